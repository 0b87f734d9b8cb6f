#!/usr/bin/python3
"""Oracle for kiln's resolver: ask dnf (python3-dnf, the API behind `dnf install --assumeno
--installroot=EMPTY --forcearch=ARCH`) which packages it would install, and print their NEVRAs,
one a line, sorted.

Input (JSON on stdin):
  {"arch": "x86_64", "repos": [{"name": "r", "baseurl": "file:///...", "cost": 1000,
   "includepkgs": [], "excludepkgs": []}], "packages": ["bash"], "groups": [["core", "default"]],
   "environment": null, "excludes": [], "exclude_weakdeps": false, "multilib": false,
   "ignore_missing": false}
"""
import json
import os
import sys
import tempfile

import dnf
import dnf.exceptions


def strip_modules(baseurl, tmp):
    """kiln has no modularity: serve dnf a view of a file:// repo without its modules record."""
    import re
    src = baseurl[len("file://"):]
    dst = os.path.join(tmp, "nomod-" + os.path.basename(src.rstrip("/")))
    os.makedirs(os.path.join(dst, "repodata"))
    for n in os.listdir(src):
        if n != "repodata":
            os.symlink(os.path.join(src, n), os.path.join(dst, n))
    for n in os.listdir(os.path.join(src, "repodata")):
        if n != "repomd.xml":
            os.symlink(os.path.join(src, "repodata", n), os.path.join(dst, "repodata", n))
    with open(os.path.join(src, "repodata", "repomd.xml")) as f:
        text = f.read()
    text = re.sub(r'<data type="modules">.*?</data>\s*', "", text, flags=re.S)
    with open(os.path.join(dst, "repodata", "repomd.xml"), "w") as f:
        f.write(text)
    return "file://" + dst


def main():
    req = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as root:
        base = dnf.Base()
        conf = base.conf
        conf.installroot = root
        conf.cachedir = root + "/cache"
        # libdnf's history database (a group install writes to it) starts in memory and is
        # copied to PERSISTDIR/history.sqlite. Through the API, persistdir is NOT put under the
        # installroot (only dnf's CLI does that): every oracle would create the host's
        # /var/lib/dnf/history.sqlite, and on a fresh machine the concurrent ones race to
        # ("Database backup failed"). Each run gets its own.
        conf.persistdir = os.path.join(root, "var/lib/dnf")
        os.makedirs(conf.persistdir, exist_ok=True)
        conf.reposdir = []
        conf.substitutions["releasever"] = str(req.get("releasever", "41"))
        conf.substitutions["arch"] = req["arch"]
        conf.substitutions["basearch"] = dnf.rpm.basearch(req["arch"])
        conf.arch = req["arch"]
        conf.best = False
        conf.install_weak_deps = not req.get("exclude_weakdeps", False)
        conf.multilib_policy = "all" if req.get("multilib") else "best"
        conf.gpgcheck = False
        conf.strict = not req.get("ignore_missing", False)
        conf.exclude = req.get("excludes", [])
        for r in req["repos"]:
            baseurl = r["baseurl"]
            if req.get("ignore_modules"):
                baseurl = strip_modules(baseurl, root)
            repo = base.repos.add_new_repo(r["name"], conf, baseurl=[baseurl])
            repo.cost = r.get("cost", 1000)
            if r.get("includepkgs"):
                repo.includepkgs = r["includepkgs"]
            if r.get("excludepkgs"):
                repo.excludepkgs = r["excludepkgs"]
        base.fill_sack(load_system_repo=False)
        base.read_comps(arch_filter=True)
        if req.get("environment"):
            env = base.comps.environment_by_pattern(req["environment"])
            base.environment_install(env.id, ("mandatory", "default"))
        for gid, how in req.get("groups", []):
            types = {"required": ("mandatory",), "default": ("mandatory", "default"),
                     "all": ("mandatory", "default", "optional")}[how]
            grp = base.comps.group_by_pattern(gid)
            if grp is None:
                print("missing group " + gid, file=sys.stderr)
                continue
            base.group_install(grp.id, types, exclude=req.get("excludes", []), strict=False)
        for p in req.get("packages", []):
            try:
                base.install(p)
            except dnf.exceptions.MarkingError as e:
                print("missing " + p + ": " + str(e), file=sys.stderr)
                if conf.strict:
                    sys.exit(3)
        base.resolve()
        for pkg in sorted(base.transaction.install_set, key=str):
            print(str(pkg))


main()
