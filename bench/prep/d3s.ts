/**
 * D3S benchmark options: the generated rows already carry entropies, so there is nothing to
 * prepare; the options make both selection levels do work (6 of each group's 8 rollouts, 20% of
 * their tokens), as an early training step would.
 */
export const options: Record<string, unknown> = { sampleKeep: 6, tokenKeep: 0.2 };
