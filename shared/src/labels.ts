// The alert-label contract: what an analyst's verdict on an alert looks like on the
// `alert-labels` topic (key: alertId) and in the archive. Labels are events: a changed verdict is a
// new record, the latest by `labelledAt` wins, and every earlier one stays as history. Pure: no I/O.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { TradewatchError } from './errors.ts';

export const LABEL_VALUES = ['confirmed_fraud', 'false_positive', 'needs_review'] as const;
export type LabelValue = (typeof LABEL_VALUES)[number];
export const MAX_NOTE_LENGTH = 2000;

export const AlertLabelSchema = Type.Object(
  {
    alertId: Type.String({ minLength: 1, maxLength: 128 }),
    label: Type.Union(LABEL_VALUES.map((v) => Type.Literal(v))),
    note: Type.String({ maxLength: MAX_NOTE_LENGTH }),
    author: Type.String({ minLength: 1, maxLength: 128 }),
    labelledAt: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false, title: 'AlertLabel' },
);
export type AlertLabel = Static<typeof AlertLabelSchema>;

const check = TypeCompiler.Compile(AlertLabelSchema);

export const isLabelValue = (v: unknown): v is LabelValue =>
  typeof v === 'string' && (LABEL_VALUES as readonly string[]).includes(v);

export const encodeLabel = (label: AlertLabel): string => JSON.stringify(label);

/** Decodes and validates one `alert-labels` record value; throws LABEL_INVALID with the first problem. */
export const decodeLabel = (value: Buffer | string): AlertLabel => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString());
  } catch (err) {
    throw new TradewatchError('LABEL_INVALID', 'label record is not JSON', { cause: err });
  }
  if (!check.Check(parsed)) {
    const first = check.Errors(parsed).First();
    throw new TradewatchError(
      'LABEL_INVALID',
      `label record is invalid at ${first?.path || '/'}: ${first?.message ?? 'unknown problem'}`,
    );
  }
  return parsed;
};

/** The label in force: the latest by `labelledAt` (ties: the later in the list). */
export const currentLabel = (labels: readonly AlertLabel[]): AlertLabel | undefined => {
  let best: AlertLabel | undefined;
  for (const l of labels) if (best === undefined || l.labelledAt >= best.labelledAt) best = l;
  return best;
};

/**
 * Precision of a rule from its alerts' current labels: confirmed / (confirmed + false positive).
 * `needs_review` is not a verdict and counts in neither; null while nothing has a verdict.
 */
export const precisionOf = (confirmed: number, falsePositive: number): number | null =>
  confirmed + falsePositive === 0 ? null : confirmed / (confirmed + falsePositive);
