/** The live connection's state (placeholder until the SDK reports it). */
export function ConnectionIndicator() {
  return null;
}
