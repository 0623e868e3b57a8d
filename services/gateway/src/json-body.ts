// Reading request bodies: the only accepted media type is JSON in UTF-8, and its nesting depth is
// bounded before anything walks the parsed value. Pure: no I/O.
import { HttpError, malformedJson } from './errors.ts';

/**
 * An event is an object of scalars, a batch is `{"events": [ {…} ]}`: depth 3. Deeper input is
 * certainly invalid; the bound leaves room for a misplaced object to be reported by its path.
 */
export const MAX_JSON_DEPTH = 8;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** `application/json`, optionally with `charset=utf-8`; nothing else (no text/plain, no +json). */
export const isJsonMediaType = (contentType: string | undefined): boolean => {
  if (contentType === undefined) return false;
  const [type, ...params] = contentType.split(';').map((s) => s.trim().toLowerCase());
  if (type !== 'application/json') return false;
  return params.every((p) => p === '' || /^charset="?utf-8"?$/.test(p));
};

/** The nesting depth of a parsed JSON value, counting no further than `limit + 1`. */
export const jsonDepth = (value: unknown, limit: number): number => {
  if (typeof value !== 'object' || value === null) return 0;
  if (limit < 0) return 1;
  let deepest = 0;
  for (const child of Array.isArray(value) ? value : Object.values(value)) {
    deepest = Math.max(deepest, jsonDepth(child, limit - 1));
    if (deepest > limit) break;
  }
  return deepest + 1;
};

/** Decodes and parses a JSON body, throwing the API's 400 errors for what is wrong with it. */
export const parseJsonBody = (body: Buffer): unknown => {
  if (body.length === 0) throw new HttpError('malformed_json', 'the body is empty');
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new HttpError('malformed_json', 'the body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw malformedJson((err as Error).message);
  }
  if (jsonDepth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new HttpError('invalid_body', `the body nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return value;
};
