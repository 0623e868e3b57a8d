// Labelling the selected alert (analysts and admins) and its label history (everyone).
import { useState } from 'react';
import type { AlertLabel, DeskAlert, LabelValue } from '../../src/api-types.ts';
import { LABELS } from '../../src/api-types.ts';
import { ApiRequestError, describeError, type DeskApi } from './api.ts';
import { ErrorMessage } from './ErrorMessage.tsx';
import { LABEL_TEXT } from './format.ts';
import { LabelHistory } from './LabelHistory.tsx';

export function LabelSection({
  api,
  alert,
  canLabel,
  onLabelled,
}: {
  api: DeskApi;
  alert: DeskAlert;
  canLabel: boolean;
  onLabelled: (label: AlertLabel) => void;
}) {
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState<LabelValue | null>(null);
  const [error, setError] = useState<string | null>(null);

  const submit = async (label: LabelValue) => {
    setBusy(label);
    setError(null);
    try {
      onLabelled(await api.addLabel(alert.alertId, label, note.trim()));
      setNote('');
    } catch (err) {
      setError(
        err instanceof ApiRequestError && err.status === 403
          ? `You may not label alerts: ${describeError(err)}`
          : `The label was not stored: ${describeError(err)}`,
      );
    } finally {
      setBusy(null);
    }
  };

  const current = alert.labels[0]?.label;
  return (
    <section className="labels" aria-label="labels">
      <h3>Verdict</h3>
      {canLabel ? (
        <div className="label-form">
          <div className="label-buttons">
            {LABELS.map((l) => (
              <button
                key={l}
                type="button"
                className={`label-button label-button-${l}${current === l ? ' label-button-current' : ''}`}
                data-testid={`label-${l}`}
                disabled={busy !== null}
                onClick={() => void submit(l)}
              >
                {busy === l ? 'Saving…' : LABEL_TEXT[l]}
              </button>
            ))}
          </div>
          <input
            data-testid="label-note"
            className="label-note"
            placeholder="note (optional)"
            maxLength={2000}
            value={note}
            onChange={(e) => setNote(e.target.value)}
          />
        </div>
      ) : (
        <p className="muted small">Viewers can read labels; analysts and admins set them.</p>
      )}
      {error !== null && <ErrorMessage message={error} />}
      <LabelHistory labels={alert.labels} />
    </section>
  );
}
