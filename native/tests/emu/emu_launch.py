#!/usr/bin/env python3
"""Rewrites CUDA launches for the qstep CUDA emulator (native/tests/emu/cuda_runtime.h):

    name<Args...><<<grid, block, smem, stream>>>(a, b, c);
 -> ::emu::launch(grid, block, smem, stream, [&] { name<Args...>(a, b, c); });

A launch starts a statement and ends at the first ';' after its argument list. Usage: emu_launch.py IN OUT
"""
import re
import sys


def rewrite(src: str) -> str:
    out, pos = [], 0
    for m in re.finditer(r'<<<', src):
        if m.start() < pos:
            continue
        start = src.rfind('\n', 0, m.start()) + 1
        while src[start] in ' \t':
            start += 1
        close = src.index('>>>', m.end())
        config = src[m.end():close]
        depth, i = 0, close + 3
        while True:
            ch = src[i]
            if ch == '(':
                depth += 1
            elif ch == ')':
                depth -= 1
                if depth == 0:
                    break
            i += 1
        args = src[close + 3:i + 1]
        end = src.index(';', i)
        kernel = src[start:m.start()]
        out.append(src[pos:start])
        out.append(f'::emu::launch({config}, [&] {{ {kernel}{args}; }})')
        pos = end
    out.append(src[pos:])
    return ''.join(out)


if __name__ == '__main__':
    with open(sys.argv[1]) as f:
        text = f.read()
    with open(sys.argv[2], 'w') as f:
        f.write(rewrite(text))
