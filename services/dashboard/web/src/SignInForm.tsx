// The sign-in form shown while the browser has no session: name and token, checked by the server.
import { useState, type FormEvent } from 'react';
import type { SessionInfo } from '../../src/api-types.ts';
import { ApiRequestError, describeError, type DeskApi } from './api.ts';

export function SignInForm({
  api,
  onSignedIn,
}: {
  api: DeskApi;
  onSignedIn: (session: SessionInfo) => void;
}) {
  const [name, setName] = useState('');
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await api.signIn(name.trim(), token));
    } catch (err) {
      setError(
        err instanceof ApiRequestError && err.status === 401
          ? 'Unknown name or wrong token.'
          : `Sign-in failed: ${describeError(err)}`,
      );
      setBusy(false);
    }
  };

  return (
    <main className="signin">
      <form className="signin-card" onSubmit={(e) => void submit(e)}>
        <h1>
          tradewatch <span className="muted">fraud desk</span>
        </h1>
        <label>
          Name
          <input
            data-testid="signin-name"
            autoComplete="username"
            value={name}
            onChange={(e) => setName(e.target.value)}
            required
            autoFocus
          />
        </label>
        <label>
          Token
          <input
            data-testid="signin-token"
            type="password"
            autoComplete="current-password"
            value={token}
            onChange={(e) => setToken(e.target.value)}
            required
          />
        </label>
        {error !== null && (
          <p className="signin-error" role="alert" data-testid="signin-error">
            {error}
          </p>
        )}
        <button type="submit" className="button-primary" data-testid="signin-submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
