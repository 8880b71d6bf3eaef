import { Module } from '@nestjs/common';
import { ReportsController } from './reports.controller';
import { ValidationConsumer } from './validation.consumer';
import { ValidationRepository } from './validation.repository';
import { ValidationService } from './validation.service';

/** Validation of ingested dataset versions and the reports it writes. */
@Module({
  controllers: [ReportsController],
  providers: [ValidationRepository, ValidationService, ValidationConsumer],
})
export class ReportsModule {}
