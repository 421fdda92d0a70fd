// Constants defined once in native/include/qstep/types.h, read from the addon (house style 7).
import { binding } from './loader';
import type { NativeConstants } from './native';

export const constants: NativeConstants = binding.constants;
