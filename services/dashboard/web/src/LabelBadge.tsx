// An alert's current label as a coloured badge ("unlabelled" when it has none).
import type { LabelValue } from '../../src/api-types.ts';
import { LABEL_TEXT } from './format.ts';

export function LabelBadge({ label }: { label: LabelValue | undefined }) {
  return (
    <span className={`badge badge-${label ?? 'none'}`}>
      {label === undefined ? 'unlabelled' : LABEL_TEXT[label]}
    </span>
  );
}
