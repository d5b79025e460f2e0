#!/usr/bin/env python3
"""Checks ARCHITECTURE.md's rule that modules import one way: builds the
file-level import graph of the library in src/ (code outside tests, comments
skipped; `crate::`, `super::` and a mod.rs's paths to its children) and fails
if a cycle of imports spans more than one top-level module. Files of one
module may refer to one another (a mod.rs re-exports its children, which use
its types); a cycle between modules means a backward import.

    python3 scripts/import_cycles.py [SRC]     # exit 1 and the cycle, if any
"""
import re,os,sys
root=sys.argv[1] if len(sys.argv)>1 else 'src'
files={}
for d,_,fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'): files[os.path.join(d,f)[len(root)+1:]]=open(os.path.join(d,f)).read()
def modpath(rel):
    p=rel[:-3].split('/')
    if p[-1]=='mod': p=p[:-1]
    if p==['lib'] or p==['main']: return []
    return p
mods={tuple(modpath(r)):r for r in files}
def resolve(path):
    # longest prefix that is a file module
    for n in range(len(path),0,-1):
        if tuple(path[:n]) in mods: return mods[tuple(path[:n])]
    return None
edges={r:set() for r in files}
for rel,txt in files.items():
    if rel.startswith('app/') or rel in('main.rs',): continue
    if rel.endswith('tests.rs'): continue
    cut=txt.find('#[cfg(test)]\nmod tests'); 
    if cut<0: cut=txt.find('#[cfg(test)]\npub(crate) mod tests')
    if cut>=0: txt=txt[:cut]
    lines=[l for l in txt.split('\n') if not l.strip().startswith('//')]
    txt='\n'.join(lines)
    me=modpath(rel)
    # expand `use crate::a::{b, c::d}` roughly: collect crate::x::y paths
    for m in re.finditer(r'crate::((?:[a-z_]+::)*[a-z_A-Z]+)',txt):
        path=m.group(1).split('::')
        t=resolve(path)
        if t and t!=rel: edges[rel].add(t)
    for m in re.finditer(r'super::((?:[a-z_]+::)*[a-z_A-Z]+)',txt):
        base=me[:-1] if not rel.endswith('mod.rs') else me[:-1]
        path=base+m.group(1).split('::')
        t=resolve(path)
        if t and t!=rel: edges[rel].add(t)
    # relative paths to child modules: `use cache::X`, `cache::f()` in a mod.rs or lib.rs
    if rel.endswith('mod.rs') or rel=='lib.rs':
        for m in re.finditer(r'(?<![:\w])([a-z_]+)::(\{|[A-Za-z_]+)',txt):
            t=resolve(me+[m.group(1)] + ([] if m.group(2)=='{' else [m.group(2)]))
            if t and t!=rel and t.startswith('/'.join(me)): edges[rel].add(t)
    # use braces: crate::x::{a, b}
    for m in re.finditer(r'crate::((?:[a-z_]+::)*)\{([^}]*)\}',txt):
        pre=m.group(1).strip(':').split('::') if m.group(1) else []
        for item in m.group(2).split(','):
            item=item.strip().split(' ')[0]
            if not item: continue
            t=resolve(pre+item.split('::'))
            if t and t!=rel: edges[rel].add(t)
# tarjan
index={};low={};st=[];on=set();res=[];i=[0]
sys.setrecursionlimit(10000)
def sc(v):
    index[v]=low[v]=i[0];i[0]+=1;st.append(v);on.add(v)
    for w in edges[v]:
        if w not in index: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],index[w])
    if low[v]==index[v]:
        comp=[]
        while True:
            w=st.pop();on.discard(w);comp.append(w)
            if w==v:break
        res.append(comp)
for v in edges:
    if v not in index: sc(v)
def top(f):
    return f.split('/')[0].removesuffix('.rs')
cyc=[c for c in res if len({top(f) for f in c})>1]
for c in cyc:
    print("import cycle across modules:", ", ".join(sorted(c)))
    for a in sorted(c):
        print("  ",a,"->",", ".join(sorted(x for x in edges[a] if x in c)))
if cyc:
    sys.exit(1)
modules=sorted({top(f) for f in files if f not in('lib.rs','main.rs') and not f.startswith('app/')})
print(f"no import cycle between the library's {len(modules)} modules ({len(files)} files)")
