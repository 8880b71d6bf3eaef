import { Controller, Get, Module, Post } from '@nestjs/common';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import { type NestExpressApplication } from '@nestjs/platform-express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OipRestErrorFilter } from './oip-rest-errors.filter';

@Controller()
class Routes {
  @Post('v2/models/:name/infer')
  infer(): object {
    return { ok: true };
  }

  @Post('other')
  other(): object {
    return { ok: true };
  }

  @Get('v2/broken')
  broken(): object {
    throw new Error('a server fault');
  }
}

@Module({ controllers: [Routes], providers: [{ provide: APP_FILTER, useClass: OipRestErrorFilter }] })
class RoutesModule {}

/** The filter in a Nest app with a JSON body parser limited as the services' is, over real HTTP. */
describe('OipRestErrorFilter', () => {
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    app = await NestFactory.create<NestExpressApplication>(RoutesModule, { bodyParser: false, logger: false });
    app.useBodyParser('json', { limit: 1_000 });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
  });

  const post = (path: string, body: string) =>
    fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  it('answers a /v2 body that is not JSON 400 with { error } saying so', async () => {
    const response = await post('/v2/models/m/infer', '{"inputs": [');
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: expect.stringMatching(/^the request body is not valid JSON: /) });
  });

  it('keeps the status of other errors before the handler (a body over the limit: 413)', async () => {
    const response = await post('/v2/models/m/infer', JSON.stringify({ pad: 'x'.repeat(2_000) }));
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: expect.stringMatching(/too large/) });
  });

  it("leaves other paths and server faults to Nest's own handling", async () => {
    const other = await post('/other', '{"inputs": [');
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ statusCode: 400 });
    const fault = await fetch(`${url}/v2/broken`);
    expect(fault.status).toBe(500);
    expect(await fault.json()).toMatchObject({ statusCode: 500, message: 'Internal server error' });
  });

  it('lets good requests through', async () => {
    const response = await post('/v2/models/m/infer', '{"inputs": []}');
    expect(response.status).toBe(201);
  });
});
