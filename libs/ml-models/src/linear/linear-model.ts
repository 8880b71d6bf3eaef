/** Task a model was trained for; decides how raw scores become predictions. */
export type Task = 'binary' | 'multiclass' | 'regression';

/**
 * Fitted linear model. `weights` is `nOutputs × nFeatures` row-major; binary models have one
 * output (the logit of class 1), multiclass models one per class (softmax), regression one.
 */
export interface LinearModelBody {
  kind: 'linear';
  task: Task;
  nFeatures: number;
  nOutputs: number;
  weights: number[];
  intercepts: number[];
}
