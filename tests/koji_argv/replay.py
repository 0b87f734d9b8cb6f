"""Run Koji's own LiveCDTask / LiveMediaTask handlers (from KOJI_SRC/builder/kojid) with
kiln in place of livecd-creator / livemedia-creator, for tests/koji_argv.rs.

The classes ImageTask, LiveCDTask and LiveMediaTask are taken from kojid's source with `ast`
and run as they are: their argv, their checks after the run (the one .iso where they look,
the logs they upload, the packages getImagePackages finds in the cache) are Koji's. Only
what needs a hub, mock or pycdio is replaced: the build root (its tmpdir is a directory of
the test, `mock --chroot` runs the command there through links named like the tools), the
kickstart fetch/parse (the kickstart is given), prepareKickstart (writes the kickstart with
its repositories replaced by the tag's repository URL, as Koji's does), the file uploads
(recorded), rpm headers (read with the rpm command) and genISOManifest (isoinfo).

Input (argv[1]): JSON {kojid, task: "livecd"|"livemedia", top, bin, ks, repo_url, append,
name, version, release, arch, opts}. Output (stdout, last line): JSON {argv, rc, stdout,
stderr, result, error, uploads}.
"""

import ast
import json
import logging
import os
import subprocess
import sys
import types

cfg = json.loads(sys.argv[1])


class LiveCDError(Exception):
    pass


class LiveMediaError(Exception):
    pass


def get_header_fields(path, fields):
    # koji.get_header_fields with the rpm command instead of the rpm module.
    qf = "\\n".join("%%{%s}" % f.upper() for f in fields) + "\\n"
    out = subprocess.run(["rpm", "-qp", "--nosignature", "--nodigest", "--qf", qf, path],
                         check=True, capture_output=True, text=True).stdout.split("\n")
    hdr = {}
    for f, v in zip(fields, out):
        hdr[f] = None if v == "(none)" else v
    return hdr


def ensuredir(d):
    os.makedirs(d, exist_ok=True)
    return d


koji = types.SimpleNamespace(
    LiveCDError=LiveCDError,
    LiveMediaError=LiveMediaError,
    GenericError=Exception,
    BuildError=Exception,
    get_header_fields=get_header_fields,
    # sigmd5 comes from the rpm command as hex already
    hex_string=lambda s: s,
    ensuredir=ensuredir,
    _open_text_file=lambda p, mode="rt": open(p, mode),
)


class BaseTaskHandler:
    def __init__(self, task_id):
        self.id = task_id
        self.logger = logging.getLogger("kojid")
        self.uploads = []

    def uploadFile(self, path, remoteName=None):
        # Koji's upload reads the file: it must be there.
        if not os.path.isfile(path):
            raise Exception("upload of a missing file %s" % path)
        self.uploads.append({"path": path, "name": remoteName or os.path.basename(path),
                             "size": os.path.getsize(path)})


namespace = {
    "koji": koji,
    "os": os,
    "BaseTaskHandler": BaseTaskHandler,
    "parseStatus": lambda rv, prefix: "%s exited with status %s" % (prefix, rv),
    "to_list": list,
    "fnmatch": __import__("fnmatch").fnmatch,
    "SCM": None,
    "iso9660": None,
}
source = open(cfg["kojid"]).read()
tree = ast.parse(source)
wanted = {"ImageTask", "LiveCDTask", "LiveMediaTask"}
classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name in wanted]
assert {c.name for c in classes} == wanted, "kojid lacks one of %s" % wanted
exec(compile(ast.Module(body=classes, type_ignores=[]), cfg["kojid"], "exec"), namespace)

top = cfg["top"]
ran = {}


class BuildRoot:
    """The chroot is the host: paths within it are the paths outside."""
    logs = []

    def tmpdir(self, within=False):
        return ensuredir(os.path.join(top, "tmp"))

    def rootdir(self):
        return "/"

    def resultdir(self):
        return ensuredir(os.path.join(top, "result"))

    def path_without_to_within(self, path):
        return path

    def mock(self, args):
        assert args[0] == "--cwd" and args[2:4] == ["--chroot", "--"], args
        cwd, cmd = args[1], args[4:]
        ran["argv"] = cmd
        # The tool by its name, from a directory of links to kiln (argv[0] dispatch).
        exe = os.path.join(cfg["bin"], os.path.basename(cmd[0]))
        p = subprocess.run([exe] + cmd[1:], cwd=cwd, capture_output=True, text=True)
        ran.update(rc=p.returncode, stdout=p.stdout, stderr=p.stderr)
        return p.returncode

    def markExternalRPMs(self, rpmlist):
        pass

    def expire(self):
        pass


class Mixin:
    def makeImgBuildRoot(self, buildtag, repoinfo, arch, inst_group):
        return BuildRoot()

    def fetchKickstart(self, broot, ksfile, build_tag):
        return cfg["ks"]

    def readKickstart(self, kspath, opts):
        bootloader = types.SimpleNamespace(appendLine=cfg["append"])
        self.ks = types.SimpleNamespace(handler=types.SimpleNamespace(bootloader=bootloader))

    def prepareKickstart(self, repo_info, target_info, arch, broot, opts):
        # As Koji's: the kickstart's repositories replaced by the tag's repository.
        lines = [l for l in open(cfg["ks"]).read().splitlines()
                 if not l.startswith("repo ")]
        lines.insert(0, "repo --name=koji-%s-%i --baseurl=%s" % (
            target_info["build_tag_name"], repo_info["id"], cfg["repo_url"]))
        kskoji = os.path.join(broot.tmpdir(), "koji-image-%s-%i.ks" % (
            target_info["build_tag_name"], self.id))
        with open(kskoji, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.uploadFile(kskoji)
        return kskoji

    def genISOManifest(self, image, manifile):
        # pycdio's listing replaced by isoinfo's: the ISO must read as ISO 9660.
        out = subprocess.run(["isoinfo", "-d", "-i", image], check=True,
                             capture_output=True, text=True).stdout
        with open(manifile, "w") as f:
            f.write(out)

    def fetch_lorax_templates_from_scm(self, build_root):
        return ensuredir(os.path.join(top, "tmp", "lorax-checkout", self.opts["lorax_dir"]))


task_class = namespace["LiveCDTask" if cfg["task"] == "livecd" else "LiveMediaTask"]
Task = type("Task", (Mixin, task_class), {})
task = Task(4242)
out = {"result": None, "error": None}
try:
    out["result"] = task.handler(
        cfg["name"], cfg["version"], cfg["release"], cfg["arch"],
        {"build_tag_name": "kiln-fixtures"}, "kiln-fixtures", {"id": 7}, "live.ks",
        cfg["opts"])
except Exception as e:  # Koji's task failure, reported as its result
    out["error"] = "%s: %s" % (type(e).__name__, e)
out.update(ran)
out["uploads"] = task.uploads
print(json.dumps(out))
