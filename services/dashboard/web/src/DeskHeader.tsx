// The bar across the top: what this is, who is signed in (and as what), and signing out.
import type { SessionInfo } from '../../src/api-types.ts';

export function DeskHeader({ session, onSignOut }: { session: SessionInfo; onSignOut: () => void }) {
  return (
    <header className="desk-header">
      <h1>
        tradewatch <span className="muted">fraud desk</span>
      </h1>
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
