// Capability detection and error classification of shared/src/clickhouse.ts, from what the
// servers report (the 18.16 values are the ones of the Debian package).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  capabilitiesOf,
  classifyClickHouseError,
  clickHouseErrorCode,
  parseClickHouseVersion,
} from '@tradewatch/shared/clickhouse';

const reported18 = {
  settings: ['max_insert_block_size', 'allow_experimental_low_cardinality_type', 'insert_deduplicate'],
  dataTypes: ['String', 'DateTime', 'LowCardinality', 'Decimal64'],
  functions: ['visitParamExtractString'],
};
const reported24 = {
  settings: ['max_insert_block_size', 'async_insert', 'insert_deduplication_token'],
  dataTypes: ['String', 'DateTime', 'DateTime64', 'LowCardinality'],
  functions: ['fromUnixTimestamp64Milli', 'toStartOfInterval', 'JSONExtractString'],
};

test('18.16 has none of the modern features, even though it lists LowCardinality', () => {
  const caps = capabilitiesOf('18.16.1', reported18);
  assert.deepEqual(
    {
      lc: caps.lowCardinality,
      codecs: caps.codecs,
      ttl: caps.ttl,
      dt64: caps.dateTime64,
      params: caps.queryParameters,
    },
    { lc: false, codecs: false, ttl: false, dt64: false, params: false },
  );
  assert.equal(caps.settings.has('async_insert'), false);
});

test('a current server has all of them', () => {
  const caps = capabilitiesOf('24.8.4.13', reported24);
  assert.deepEqual(
    {
      lc: caps.lowCardinality,
      codecs: caps.codecs,
      ttl: caps.ttl,
      dt64: caps.dateTime64,
      params: caps.queryParameters,
    },
    { lc: true, codecs: true, ttl: true, dt64: true, params: true },
  );
  assert.equal(caps.version.major, 24);
  assert.equal(caps.settings.has('async_insert'), true);
});

test('a feature the server does not list stays off whatever the version', () => {
  const caps = capabilitiesOf('24.8', { ...reported24, dataTypes: ['String'] });
  assert.equal(caps.dateTime64, false);
  assert.equal(caps.lowCardinality, false);
});

test('versions parse; garbage does not', () => {
  assert.deepEqual(parseClickHouseVersion('18.16.1'), { major: 18, minor: 16, patch: 1, text: '18.16.1' });
  assert.deepEqual(parseClickHouseVersion('23.3'), { major: 23, minor: 3, patch: 0, text: '23.3' });
  assert.throws(() => parseClickHouseVersion('banana'), /version/);
});

test('error codes come from the client or from the 18.16 message text', () => {
  assert.equal(clickHouseErrorCode({ code: '60', message: 'x' }), 60);
  assert.equal(
    clickHouseErrorCode(new Error('Code: 27, e.displayText() = DB::Exception: Cannot parse input')),
    27,
  );
  assert.equal(clickHouseErrorCode(new Error('connect ECONNREFUSED 127.0.0.1:8123')), undefined);
});

test('errors are classified once: unavailable (retriable), data rejected, other', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
  assert.deepEqual(pick(classifyClickHouseError(refused)), ['CLICKHOUSE_UNAVAILABLE', true]);
  assert.deepEqual(pick(classifyClickHouseError(new Error('Timeout error.'))), [
    'CLICKHOUSE_UNAVAILABLE',
    true,
  ]);
  assert.deepEqual(
    pick(classifyClickHouseError(new Error('Code: 252, e.displayText() = DB::Exception: Too many parts'))),
    ['CLICKHOUSE_UNAVAILABLE', true],
  );
  assert.deepEqual(
    pick(classifyClickHouseError(new Error('Code: 241, e.displayText() = DB::Exception: Memory limit'))),
    ['CLICKHOUSE_UNAVAILABLE', true],
  );
  assert.deepEqual(
    pick(
      classifyClickHouseError(
        new Error('Code: 27, e.displayText() = DB::Exception: Cannot parse input: (at row 3)'),
      ),
    ),
    ['CLICKHOUSE_DATA_REJECTED', false],
  );
  // 18.16 reports an unknown Enum element as code 49; the input-format wording identifies it.
  assert.deepEqual(
    pick(
      classifyClickHouseError(
        new Error(
          "Code: 49, e.displayText() = DB::Exception: Unknown element 'x' for type Enum8: (while read the value of key type)",
        ),
      ),
    ),
    ['CLICKHOUSE_DATA_REJECTED', false],
  );
  assert.deepEqual(
    pick(
      classifyClickHouseError(
        new Error("Code: 60, e.displayText() = DB::Exception: Table x.y doesn't exist."),
      ),
    ),
    ['CLICKHOUSE_ERROR', false],
  );
  const e = classifyClickHouseError(
    new Error('Code: 62, e.displayText() = DB::Exception: Syntax error, e.what() = DB::Exception\n'),
  );
  assert.equal(e.message, 'Code: 62, e.displayText() = DB::Exception: Syntax error');
});

const pick = (e: { code: string; retriable: boolean }) => [e.code, e.retriable];
