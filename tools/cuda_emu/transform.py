"""tools/cuda_emu/transform.py SRC DST — rewrite CUDA launch syntax for the CPU emulation.

`kernel<<<grid, block, shared, stream>>>(args)` becomes
`shim::launch(shim::cfg(grid, block, shared, stream), kernel, args)`, and
`extern __shared__ float smem[];` becomes a pointer to the emulated dynamic shared memory.
"""
import re, sys, pathlib
def transform(text):
    out = []; i = 0
    while True:
        j = text.find('<<<', i)
        if j < 0: out.append(text[i:]); break
        # callee: scan back over white space (a launch may start on its own line), balanced <...>
        # and identifier chars
        k = j - 1
        while k >= 0 and text[k].isspace(): k -= 1
        end = k + 1
        if text[k] == '>':
            depth = 0
            while True:
                if text[k] == '>': depth += 1
                elif text[k] == '<':
                    depth -= 1
                    if depth == 0: k -= 1; break
                k -= 1
        while k >= 0 and (text[k].isalnum() or text[k] in '_:'): k -= 1
        start = k + 1
        callee = text[start:end]
        e = text.find('>>>', j)
        cfg = text[j+3:e]
        assert text[e+3] == '(', text[e:e+20]
        depth = 0; p = e + 3
        while True:
            if text[p] == '(': depth += 1
            elif text[p] == ')':
                depth -= 1
                if depth == 0: break
            p += 1
        args = text[e+4:p]
        out.append(text[i:start])
        out.append('shim::launch(shim::cfg(%s), %s%s%s)' % (cfg, callee, ', ' if args.strip() else '', args))
        i = p + 1
    s = ''.join(out)
    s = s.replace('extern __shared__ float smem[];', 'float* smem = shim::dynamic_smem<float>();')
    return s
src = pathlib.Path(sys.argv[1]); dst = pathlib.Path(sys.argv[2])
dst.write_text(transform(src.read_text()))
