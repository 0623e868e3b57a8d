// An error the analyst should see, with a way to try again where there is one.
export function ErrorMessage({ message, onRetry }: { message: string; onRetry?: () => void }) {
  return (
    <div className="error" role="alert" data-testid="error">
      <span>{message}</span>
      {onRetry !== undefined && (
        <button type="button" className="button-small" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}
