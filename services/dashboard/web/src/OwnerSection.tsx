// Which processor holds the user's live state, and what it means when it is not simply running.
import type { UserView } from '../../src/api-types.ts';

const explain = (owner: UserView['owner']): string | null => {
  const instance = owner.instance ?? 'no instance';
  switch (owner.status) {
    case 'running':
      return null;
    case 'restoring':
      return `Partition ${owner.partition} is restoring: ${instance} is rebuilding its state from the changelog, so the live state is not available yet.`;
    case 'moving':
      return `Partition ${owner.partition} is moving between processors (the group is rebalancing): no instance serves it right now.`;
    case 'unreachable':
      return `${instance} owns partition ${owner.partition} but did not answer.`;
  }
};

export function OwnerSection({
  owner,
  retrying,
  onRetry,
}: {
  owner: UserView['owner'];
  /** Whether the panel asks again by itself while the partition is not running. */
  retrying: boolean;
  onRetry: () => void;
}) {
  const problem = explain(owner);
  return (
    <section className={`owner owner-${owner.status}`} aria-label="owner">
      <div className="owner-line">
        <span>
          partition <strong>{owner.partition}</strong>
        </span>
        <span>
          instance <strong>{owner.instance ?? '—'}</strong>
        </span>
        <span className={`status status-${owner.status}`} data-testid="owner-status">
          {owner.status}
        </span>
      </div>
      {problem !== null && (
        <div className="owner-problem">
          <div className="owner-problem-text">
            <p>
              {problem}
              {retrying && ' Asking again every few seconds.'}
            </p>
            {owner.message !== undefined && owner.message !== '' && (
              <p className="small">The desk says: {owner.message}</p>
            )}
          </div>
          <button type="button" className="button-small" onClick={onRetry}>
            Retry now
          </button>
        </div>
      )}
    </section>
  );
}
