/** What a plan would do, and to what. */
export interface PlanSize {
  adds: number;
  removes: number;
  changes: number;
  /** Members the destination holds by our last committed run. */
  destinationSize: number;
  segmentSize: number;
}

export interface GuardrailOptions {
  mode: 'mirror' | 'add_only';
  removalThreshold: number;
  removalFloor: number;
}

/**
 * Why a run with this plan must wait for a person's approval, or null. Pure: the same answer for
 * the plan endpoint and for the run.
 */
export function needsApproval(plan: PlanSize, options: GuardrailOptions): string | null {
  if (options.mode === 'add_only') return null;
  if (plan.segmentSize === 0 && plan.destinationSize > 0) {
    return `the segment is empty, so the run would remove all ${plan.destinationSize} members the destination holds (an upstream table emptied by a failed load looks the same)`;
  }
  if (plan.removes > options.removalFloor && plan.destinationSize > 0 && plan.removes / plan.destinationSize > options.removalThreshold) {
    const percent = (x: number) => `${Math.round(x * 1000) / 10}%`;
    return `the run would remove ${plan.removes} of ${plan.destinationSize} members (${percent(plan.removes / plan.destinationSize)}), more than the removal threshold of ${percent(options.removalThreshold)}`;
  }
  return null;
}
