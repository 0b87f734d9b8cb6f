#!/usr/bin/python3
"""Make a Fedora-scale rpm-md repository (metadata only) from a Debian Packages index, for the
resolver benchmark: repodata/{primary,filelists}.xml.gz + repomd.xml, one <package> per stanza.

  gen-debian-repo.py PACKAGES_FILE OUT_DIR

Depends/Pre-Depends -> requires (alternatives as rich `(a or b)`), Recommends -> recommends,
Suggests -> suggests, Provides -> provides, unversioned Conflicts/Breaks -> conflicts; amd64/arm64 ->
x86_64/aarch64, all -> noarch; `epoch:upstream-revision` -> epoch/ver/rel. The semantics differ
from Debian's, but both solvers under test read the same metadata, which is what matters here.
"""
import gzip
import hashlib
import os
import re
import sys
from xml.sax.saxutils import escape, quoteattr

ARCH = {"amd64": "x86_64", "arm64": "aarch64", "all": "noarch", "i386": "i686"}
OPS = {">=": "GE", "<=": "LE", ">>": "GT", "<<": "LT", "=": "EQ", ">": "GT", "<": "LT"}


def stanzas(text):
    for block in text.split("\n\n"):
        d = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t"):
                if key:
                    d[key] += " " + line.strip()
                continue
            if ":" in line:
                key, _, v = line.partition(":")
                d[key] = v.strip()
        if "Package" in d:
            yield d


def evr(v):
    e = "0"
    if ":" in v:
        e, _, v = v.partition(":")
    if "-" in v:
        ver, _, rel = v.rpartition("-")
    else:
        ver, rel = v, "0"
    return e, ver, rel


DEP = re.compile(r"^\s*([^\s(\[]+)\s*(?:\(\s*([<>=]+)\s*([^)\s]+)\s*\))?")


def one(dep):
    m = DEP.match(dep)
    if not m:
        return None
    name = m.group(1).split(":")[0]
    if m.group(2):
        e, v, r = evr(m.group(3))
        return name, OPS.get(m.group(2), "EQ"), e, v, r
    return name, None, None, None, None


def rich(alts):
    parts = []
    for a in alts:
        n, op, e, v, r = a
        if op:
            sym = {"GE": ">=", "LE": "<=", "GT": ">", "LT": "<", "EQ": "="}[op]
            full = (e + ":" if e != "0" else "") + v + ("-" + r if r else "")
            parts.append(f"{n} {sym} {full}")
        else:
            parts.append(n)
    return "(" + " or ".join(parts) + ")"


def entries(field):
    out = []
    for item in filter(None, (x.strip() for x in field.split(","))):
        alts = [a for a in (one(x) for x in item.split("|")) if a]
        if not alts:
            continue
        if len(alts) == 1:
            out.append(alts[0])
        else:
            out.append((rich(alts), None, None, None, None))
    return out


def entry_xml(e):
    n, op, ep, v, r = e
    if op:
        return f'<rpm:entry name={quoteattr(n)} flags="{op}" epoch="{ep}" ver={quoteattr(v)} rel={quoteattr(r)}/>'
    return f"<rpm:entry name={quoteattr(n)}/>"


def main():
    src, out = sys.argv[1], sys.argv[2]
    text = open(src, encoding="utf-8", errors="replace").read()
    pkgs = list(stanzas(text))
    os.makedirs(os.path.join(out, "repodata"), exist_ok=True)
    prim = []
    files = []
    for d in pkgs:
        name = d["Package"]
        arch = ARCH.get(d.get("Architecture", "all"), d.get("Architecture", "noarch"))
        e, v, r = evr(d.get("Version", "0"))
        pkgid = hashlib.sha256((name + d.get("Version", "") + arch).encode()).hexdigest()
        deps = ""
        for tag, fields in (
            ("provides", ["Provides"]),
            ("requires", ["Pre-Depends", "Depends"]),
            ("conflicts", ["Conflicts", "Breaks"]),
            ("recommends", ["Recommends"]),
            ("suggests", ["Suggests"]),
        ):
            es = []
            for f in fields:
                es += entries(d.get(f, ""))
            if tag == "provides":
                es.insert(0, (name, "EQ", e, v, r))
            if tag == "conflicts":
                # Versioned Conflicts/Breaks guard upgrades from old Debian releases; under rpm
                # rules an unversioned Provides would match them, which Debian never does.
                es = [x for x in es if x[1] is None and not x[0].startswith("(")]
            if es:
                deps += f"<rpm:{tag}>" + "".join(entry_xml(x) for x in es) + f"</rpm:{tag}>"
        href = d.get("Filename", f"{name}.rpm").replace(".deb", ".rpm")
        prim.append(
            f'<package type="rpm"><name>{escape(name)}</name><arch>{arch}</arch>'
            f'<version epoch="{e}" ver={quoteattr(v)} rel={quoteattr(r)}/>'
            f'<checksum type="sha256" pkgid="YES">{pkgid}</checksum>'
            f"<summary>{escape(d.get('Description', '')[:200])}</summary><description/>"
            f'<packager/><url/><time file="0" build="0"/>'
            f'<size package="{d.get("Size", "0")}" installed="{int(d.get("Installed-Size", "0") or 0) * 1024}" archive="0"/>'
            f'<location href={quoteattr(href)}/><format><rpm:license>unknown</rpm:license>'
            f"{deps}</format></package>"
        )
        files.append(
            f'<package pkgid="{pkgid}" name={quoteattr(name)} arch="{arch}">'
            f'<version epoch="{e}" ver={quoteattr(v)} rel={quoteattr(r)}/>'
            f"<file>/usr/share/doc/{escape(name)}/copyright</file></package>"
        )
    records = []
    for kind, head, body, tail in (
        ("primary", f'<metadata xmlns="http://linux.duke.edu/metadata/common" '
                    f'xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="{len(prim)}">',
         prim, "</metadata>"),
        ("filelists", f'<filelists xmlns="http://linux.duke.edu/metadata/filelists" '
                      f'packages="{len(files)}">', files, "</filelists>"),
    ):
        raw = ('<?xml version="1.0" encoding="UTF-8"?>\n' + head + "\n".join(body) + tail).encode()
        gz = gzip.compress(raw, compresslevel=6, mtime=0)
        sha = hashlib.sha256(gz).hexdigest()
        fn = f"repodata/{sha}-{kind}.xml.gz"
        with open(os.path.join(out, fn), "wb") as f:
            f.write(gz)
        records.append(
            f'<data type="{kind}"><checksum type="sha256">{sha}</checksum>'
            f'<open-checksum type="sha256">{hashlib.sha256(raw).hexdigest()}</open-checksum>'
            f'<location href="{fn}"/><timestamp>0</timestamp><size>{len(gz)}</size>'
            f"<open-size>{len(raw)}</open-size></data>"
        )
    with open(os.path.join(out, "repodata/repomd.xml"), "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo" '
                'xmlns:rpm="http://linux.duke.edu/metadata/rpm"><revision>0</revision>'
                + "".join(records) + "</repomd>\n")
    print(f"{len(prim)} packages -> {out}", file=sys.stderr)


main()
