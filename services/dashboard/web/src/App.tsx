// The page: asks the server whether this browser has a session, then shows the sign-in form or
// the desk. Any 401 later (an expired session) brings the sign-in form back.
import { useCallback, useEffect, useState } from 'react';
import type { SessionInfo } from '../../src/api-types.ts';
import { describeError, isUnauthorized, type DeskApi } from './api.ts';
import { Desk } from './Desk.tsx';
import { ErrorMessage } from './ErrorMessage.tsx';
import { SignInForm } from './SignInForm.tsx';

export function App({ api }: { api: DeskApi }) {
  /** undefined while asking the server */
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let stopped = false;
    api.getSession().then(
      (s) => {
        if (!stopped) setSession(s);
      },
      (err: unknown) => {
        if (!stopped) setError(`The desk server could not be reached: ${describeError(err)}`);
      },
    );
    return () => {
      stopped = true;
    };
  }, [api, attempt]);

  const unauthorized = useCallback(() => setSession(null), []);
  const signOut = useCallback(() => {
    api.signOut().then(
      () => setSession(null),
      (err: unknown) => {
        // 401: the session had already ended, which is what signing out wanted.
        if (isUnauthorized(err)) setSession(null);
        else setError(`Signing out failed: ${describeError(err)}`);
      },
    );
  }, [api]);

  if (session === undefined) {
    return error === null ? (
      <p className="loading">Connecting to the fraud desk…</p>
    ) : (
      <main className="signin">
        <ErrorMessage
          message={error}
          onRetry={() => {
            setError(null);
            setAttempt((n) => n + 1);
          }}
        />
      </main>
    );
  }
  if (session === null) {
    return (
      <SignInForm
        api={api}
        onSignedIn={(s) => {
          setError(null);
          setSession(s);
        }}
      />
    );
  }
  return (
    <>
      {error !== null && <ErrorMessage message={error} />}
      <Desk
        key={session.name}
        api={api}
        session={session}
        onSignOut={signOut}
        onUnauthorized={unauthorized}
      />
    </>
  );
}
