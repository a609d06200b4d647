/**
 * The method every CreditBench comparison is made against: GRPO, one advantage for every token of
 * a response (the uniform credit the finer methods claim to improve on).
 */
export const BASELINE_METHOD = "grpo";
