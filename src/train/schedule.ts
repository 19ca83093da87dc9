/** Learning-rate schedule: linear warm-up, constant, linear decay to 0 over the last steps. */
export function lrAt(step: number, totalSteps: number, lr: number, warmupFrac: number, decayFrac: number): number {
  const warm = Math.floor(warmupFrac * totalSteps);
  const decay = Math.floor(decayFrac * totalSteps);
  if (warm > 0 && step < warm) return (lr * (step + 1)) / warm;
  const decayStart = totalSteps - decay;
  if (decay > 0 && step >= decayStart) return (lr * (totalSteps - step)) / decay;
  return lr;
}
