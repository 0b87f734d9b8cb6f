# Koji CLI plugin: `koji kiln-build`, live media built by kiln on the builders (one task per
# arch), imported as one image build. Install: put this file in a directory named by
# `plugin_paths` of the client's koji.conf (or /usr/lib/python3/site-packages/koji_cli_plugins);
# see koji/README.md, "Plugins".

import os
from optparse import OptionParser

import koji
from koji.plugin import export_cli
from koji_cli.lib import (
    _progress_callback,
    _running_in_bg,
    activate_session,
    unique_path,
    watch_tasks,
)

COMPRESSIONS = ('xz', 'zstd', 'gzip', 'lz4')


@export_cli
def handle_kiln_build(goptions, session, args):
    "[build] Build live media with kiln, one task per arch"
    usage = ("usage: %prog kiln-build [options] <name> <version> <target> <kickstart>\n"
             "  <kickstart>: a local file (uploaded), an http(s) URL, or with --ksurl a path\n"
             "  in that checkout")
    parser = OptionParser(usage=usage)
    parser.add_option("--arch", action="append", dest="arches", default=[],
                      help="Build for this arch (repeatable; default: the build tag's arches)")
    parser.add_option("--repo", action="append",
                      help="Install from this repo URL ($arch expanded) instead of the build "
                           "tag's external repos (repeatable)")
    parser.add_option("--ksrepo", action="store_true",
                      help="Keep the kickstart's own repos")
    parser.add_option("--ksurl", metavar="SCMURL",
                      help="The SCM URL of a checkout holding the kickstart")
    parser.add_option("--ksversion", metavar="VERSION",
                      help="Kickstart syntax version (kiln's --ksversion)")
    parser.add_option("--release", help="Release of the image build (default: the next one)")
    parser.add_option("--label", metavar="VOLID",
                      help="Volume label (at most 32 characters; default: "
                           "name-version-release, cut to 32)")
    parser.add_option("--releasever", help="$releasever for repository URLs")
    parser.add_option("--compression", choices=COMPRESSIONS,
                      help="squashfs compressor: %s (kiln's default: xz)" % ", ".join(COMPRESSIONS))
    parser.add_option("--compress-arg", action="append", metavar="ARG",
                      help="Compressor argument for kiln (repeatable, e.g. level=3)")
    parser.add_option("--scratch", action="store_true", help="Make a scratch build")
    parser.add_option("--skip-tag", action="store_true", help="Do not tag the build")
    parser.add_option("--can-fail", dest="optional_arches", metavar="ARCH1,ARCH2,...",
                      default="", help="Arches whose failure does not fail the build")
    parser.add_option("--background", action="store_true",
                      help="Run the build at a lower priority")
    parser.add_option("--noprogress", action="store_true",
                      help="Do not display progress of the upload")
    parser.add_option("--nowait", action="store_false", dest="wait", default=None,
                      help="Do not wait for the build")
    parser.add_option("--wait", action="store_true",
                      help="Wait for the build, even if running in the background")
    (options, args) = parser.parse_args(args)
    if len(args) != 4:
        parser.error("four arguments are required: name, version, target and kickstart")
    name, version, target, kickstart = args
    if options.label is not None and not 0 < len(options.label) <= 32:
        parser.error("--label takes 1 to 32 characters")

    activate_session(session, goptions)
    if not session.getBuildTarget(target):
        raise koji.GenericError("No such build target: %s" % target)

    ksfile = kickstart
    if not options.ksurl and not kickstart.startswith(('http://', 'https://')):
        if not os.path.isfile(kickstart):
            parser.error("no such kickstart file: %s" % kickstart)
        callback = None
        if not (_running_in_bg() or options.noprogress or goptions.quiet):
            callback = _progress_callback
        serverdir = unique_path('cli-kiln')
        session.uploadWrapper(kickstart, serverdir, callback=callback)
        if callback:
            print('')
        ksfile = os.path.join(serverdir, os.path.basename(kickstart))

    opts = {}
    for key in ('release', 'ksurl', 'ksversion', 'compression', 'label', 'releasever'):
        if getattr(options, key):
            opts[key] = getattr(options, key)
    if options.repo:
        opts['repo'] = options.repo
    if options.compress_arg:
        opts['compress_arg'] = options.compress_arg
    for key in ('scratch', 'skip_tag', 'ksrepo'):
        if getattr(options, key):
            opts[key] = True
    if options.optional_arches:
        opts['optional_arches'] = [koji.canonArch(a)
                                   for a in options.optional_arches.split(',') if a]
    arches = [koji.canonArch(a) for a in options.arches]
    priority = 5 if options.background else None

    task_id = session.kilnBuild(name, version, target, arches, ksfile, opts=opts,
                                priority=priority)
    if not goptions.quiet:
        print("Created task: %d" % task_id)
        print("Task info: %s/taskinfo?taskID=%s" % (goptions.weburl, task_id))
    if options.wait or (options.wait is None and not _running_in_bg()):
        session.logout()
        return watch_tasks(session, [task_id], quiet=goptions.quiet,
                           poll_interval=goptions.poll_interval, topurl=goptions.topurl)
