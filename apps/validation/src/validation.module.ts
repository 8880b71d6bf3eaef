import { Module } from '@nestjs/common';
import { ReportsModule } from './reports/reports.module';

/** Checks dataset versions against the inferred schema, reference statistics and bias rules; passes or rejects them. */
@Module({ imports: [ReportsModule] })
export class ValidationModule {}
