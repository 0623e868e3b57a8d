// Collects items pushed at any rate and hands them over in one call per animation frame, so that
// 500 alerts/s cost one React render per frame rather than one per alert. A frame never comes
// while the tab is hidden, so a timer flushes too: the buffer stays small in a background tab.

export interface FrameBatcher<T> {
  push(item: T): void;
  /** Hands over what is pending now (if anything) instead of at the next frame. */
  flush(): void;
  /** Drops what is pending and stops. */
  cancel(): void;
}

export const createFrameBatcher = <T>(deliver: (items: T[]) => void, maxWaitMs = 250): FrameBatcher<T> => {
  let pending: T[] = [];
  let frame: number | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const unschedule = () => {
    if (frame !== null) cancelAnimationFrame(frame);
    if (timer !== null) clearTimeout(timer);
    frame = null;
    timer = null;
  };

  const flush = () => {
    unschedule();
    if (pending.length === 0) return;
    const items = pending;
    pending = [];
    deliver(items);
  };

  return {
    push(item) {
      pending.push(item);
      if (frame === null) frame = requestAnimationFrame(flush);
      if (timer === null) timer = setTimeout(flush, maxWaitMs);
    },
    flush,
    cancel() {
      unschedule();
      pending = [];
    },
  };
};
