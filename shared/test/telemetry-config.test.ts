// Which OTEL_* settings turn tracing on, and when the product's default sampling applies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnvReader } from '../src/config.ts';

const telemetry = (env: Record<string, string>) => new EnvReader(env).telemetry();

test('spans are exported only with an OTLP endpoint or a named exporter, never with none', () => {
  assert.deepEqual(telemetry({}), { exportTraces: false, samplerFromEnv: false });
  assert.equal(telemetry({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }).exportTraces, true);
  assert.equal(
    telemetry({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }).exportTraces,
    true,
  );
  assert.equal(
    telemetry({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_EXPORTER: 'none' })
      .exportTraces,
    false,
  );
  assert.equal(telemetry({ OTEL_TRACES_EXPORTER: 'zipkin' }).exportTraces, true);
  assert.equal(
    telemetry({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' })
      .exportTraces,
    false,
  );
  assert.equal(telemetry({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }).exportTraces, false);
});

test("the SDK's sampler variables win over the product's default ratio", () => {
  assert.equal(telemetry({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio' }).samplerFromEnv, true);
  assert.equal(telemetry({ OTEL_TRACES_SAMPLER_ARG: '0.5' }).samplerFromEnv, false);
});
