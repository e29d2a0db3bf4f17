/**
 * A clock that runs with real time from a moment the test chooses, and that
 * the test can move on (to another month, say) while it keeps running.
 */
export function movableClock(startIso: string): { clock: () => Date; moveTo: (iso: string) => void } {
  let offset = Date.parse(startIso) - Date.now();
  return {
    clock: () => new Date(Date.now() + offset),
    moveTo: (iso) => {
      offset = Date.parse(iso) - Date.now();
    },
  };
}
