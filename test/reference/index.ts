// The independent float64 oracle: quantization maps and primitives (docs/math.md §4, 5, Appendix A) and one step function
// per optimizer (docs/math.md §6, 9, 11, 12 with the preface decisions). Written from the spec, not from native/.
export * from './qmap';
export * from './quantize';
export * from './clipping';
export * from './optimizers';
export * from './rounding';
export * from './dynamic-map';
