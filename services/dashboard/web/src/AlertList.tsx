// The feed's list, virtualised: only the rows in view (and a few around them) are in the DOM, so
// 20,000 alerts cost what 20 do. When the analyst has scrolled down to read, alerts arriving on top
// do not push the rows they are reading away: the first row in view stays where it was.
import { useVirtualizer } from '@tanstack/react-virtual';
import { useLayoutEffect, useRef } from 'react';
import type { DeskAlert } from '../../src/api-types.ts';
import { ALERT_ROW_HEIGHT, AlertRow } from './AlertRow.tsx';

export function AlertList({
  alerts,
  selectedAlertId,
  onSelect,
  emptyText,
}: {
  alerts: readonly DeskAlert[];
  selectedAlertId: string | null;
  onSelect: (alert: DeskAlert) => void;
  emptyText: string;
}) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const anchor = useRef<{ alertId: string; offset: number } | null>(null);
  const virtualizer = useVirtualizer({
    count: alerts.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ALERT_ROW_HEIGHT,
    overscan: 8,
    getItemKey: (index) => alerts[index]?.alertId ?? index,
  });

  const rememberAnchor = () => {
    const el = scrollRef.current;
    if (el === null || el.scrollTop < ALERT_ROW_HEIGHT / 2) {
      anchor.current = null; // at the top: follow the newest alerts
      return;
    }
    const index = Math.floor(el.scrollTop / ALERT_ROW_HEIGHT);
    const alert = alerts[index];
    anchor.current =
      alert === undefined
        ? null
        : { alertId: alert.alertId, offset: el.scrollTop - index * ALERT_ROW_HEIGHT };
  };

  useLayoutEffect(() => {
    const el = scrollRef.current;
    const a = anchor.current;
    if (el === null || a === null) return;
    const index = alerts.findIndex((x) => x.alertId === a.alertId);
    if (index < 0) {
      anchor.current = null;
      return;
    }
    const target = index * ALERT_ROW_HEIGHT + a.offset;
    if (Math.abs(el.scrollTop - target) >= 1) el.scrollTop = target;
  }, [alerts]);

  const above = Math.floor((virtualizer.scrollOffset ?? 0) / ALERT_ROW_HEIGHT);

  return (
    <div className="alert-list-frame">
      {above > 0 && (
        <button
          type="button"
          className="alert-list-top"
          onClick={() => {
            anchor.current = null;
            virtualizer.scrollToOffset(0);
          }}
        >
          ↑ {above} newer
        </button>
      )}
      <div className="alert-list" ref={scrollRef} onScroll={rememberAnchor}>
        {alerts.length === 0 ? (
          <p className="empty">{emptyText}</p>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {virtualizer.getVirtualItems().map((item) => {
              const alert = alerts[item.index];
              if (alert === undefined) return null;
              return (
                <AlertRow
                  key={alert.alertId}
                  alert={alert}
                  selected={alert.alertId === selectedAlertId}
                  onSelect={onSelect}
                  top={item.start}
                />
              );
            })}
          </div>
        )}
      </div>
    </div>
  );
}
