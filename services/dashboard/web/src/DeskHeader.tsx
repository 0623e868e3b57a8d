// The bar across the top: what this is, the pages (alerts; rules for admins), who is signed in
// (and as what), and signing out.
import type { SessionInfo } from '../../src/api-types.ts';

export function DeskHeader({
  session,
  onSignOut,
  page,
  onPage,
}: {
  session: SessionInfo;
  onSignOut: () => void;
  page: 'alerts' | 'rules';
  /** Absent: only the alerts page exists for this role. */
  onPage: ((page: 'alerts' | 'rules') => void) | undefined;
}) {
  return (
    <header className="desk-header">
      <h1>
        tradewatch <span className="muted">fraud desk</span>
      </h1>
      {onPage !== undefined && (
        <nav className="desk-pages">
          {(['alerts', 'rules'] as const).map((p) => (
            <button
              key={p}
              type="button"
              className={`button-small${p === page ? ' page-current' : ''}`}
              aria-pressed={p === page}
              onClick={() => onPage(p)}
            >
              {p === 'alerts' ? 'Alerts' : 'Rules'}
            </button>
          ))}
        </nav>
      )}
      <div className="desk-header-session">
        <span data-testid="session-user">
          {session.name} <span className={`role role-${session.role}`}>{session.role}</span>
        </span>
        <button type="button" className="button-small" onClick={onSignOut}>
          Sign out
        </button>
      </div>
    </header>
  );
}
