// Original file: proto/qstep/v1/common.proto

import type { Long } from '@grpc/proto-loader';

export interface Layout {
  'optimBits'?: (number);
  'blockWise'?: (boolean);
  'blockSize'?: (number);
  'min8bitSize'?: (number | string | Long);
  'percentileClipping'?: (number);
  'maxUnorm'?: (number | string);
  'paged'?: (boolean);
  '_optimBits'?: "optimBits";
  '_blockWise'?: "blockWise";
  '_blockSize'?: "blockSize";
  '_min8bitSize'?: "min8bitSize";
  '_percentileClipping'?: "percentileClipping";
  '_maxUnorm'?: "maxUnorm";
  '_paged'?: "paged";
}

export interface Layout__Output {
  'optimBits'?: (number);
  'blockWise'?: (boolean);
  'blockSize'?: (number);
  'min8bitSize'?: (number);
  'percentileClipping'?: (number);
  'maxUnorm'?: (number);
  'paged'?: (boolean);
  '_optimBits'?: "optimBits";
  '_blockWise'?: "blockWise";
  '_blockSize'?: "blockSize";
  '_min8bitSize'?: "min8bitSize";
  '_percentileClipping'?: "percentileClipping";
  '_maxUnorm'?: "maxUnorm";
  '_paged'?: "paged";
}
