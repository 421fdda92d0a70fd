// Original file: proto/qstep/v1/common.proto


export interface Hyperparameters {
  'lr'?: (number | string);
  'betas'?: (number | string)[];
  'eps'?: (number | string);
  'weightDecay'?: (number | string);
  'alpha'?: (number | string);
  'tAlpha'?: (number | string);
  'tBeta3'?: (number | string);
  'skipZeros'?: (boolean);
  'zeroVGuard'?: (boolean);
  '_lr'?: "lr";
  '_eps'?: "eps";
  '_weightDecay'?: "weightDecay";
  '_alpha'?: "alpha";
  '_tAlpha'?: "tAlpha";
  '_tBeta3'?: "tBeta3";
  '_skipZeros'?: "skipZeros";
  '_zeroVGuard'?: "zeroVGuard";
}

export interface Hyperparameters__Output {
  'lr'?: (number);
  'betas': (number)[];
  'eps'?: (number);
  'weightDecay'?: (number);
  'alpha'?: (number);
  'tAlpha'?: (number);
  'tBeta3'?: (number);
  'skipZeros'?: (boolean);
  'zeroVGuard'?: (boolean);
  '_lr'?: "lr";
  '_eps'?: "eps";
  '_weightDecay'?: "weightDecay";
  '_alpha'?: "alpha";
  '_tAlpha'?: "tAlpha";
  '_tBeta3'?: "tBeta3";
  '_skipZeros'?: "skipZeros";
  '_zeroVGuard'?: "zeroVGuard";
}
