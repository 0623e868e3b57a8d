// A value that follows another once it has stopped changing for `delayMs`: typing a filter
// re-reads history once, not on every key, and not at all when the typing ends where it began.
import { useEffect, useState } from 'react';

export const useDebouncedValue = <T>(
  value: T,
  delayMs: number,
  equal: (a: T, b: T) => boolean = Object.is,
): T => {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled((prev) => (equal(prev, value) ? prev : value)), delayMs);
    return () => clearTimeout(timer);
  }, [value, delayMs, equal]);
  return settled;
};
