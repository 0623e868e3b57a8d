// Every label an alert has had, newest (the current one) first: verdict, author, time, note.
import type { AlertLabel } from '../../src/api-types.ts';
import { formatIsoTime, formatTime } from './format.ts';
import { LabelBadge } from './LabelBadge.tsx';

export function LabelHistory({ labels }: { labels: readonly AlertLabel[] }) {
  return (
    <ol className="label-history" data-testid="label-history">
      {labels.length === 0 && <li className="muted">No label yet.</li>}
      {labels.map((l, i) => (
        <li key={`${l.labelledAt}-${l.author}-${i}`} className={i === 0 ? 'label-current' : 'label-earlier'}>
          <LabelBadge label={l.label} />
          <span className="label-author">{l.author}</span>
          <time dateTime={formatIsoTime(l.labelledAt)} title={formatIsoTime(l.labelledAt)}>
            {formatTime(l.labelledAt)}
          </time>
          {l.note !== '' && <p className="label-note-text">{l.note}</p>}
        </li>
      ))}
    </ol>
  );
}
