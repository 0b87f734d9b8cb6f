# Koji builder plugin: the task handlers of `kilnBuild` (koji/hub/kiln_hub.py).
#
# Install: copy (or link) this file into kojid's `pluginpath` (default /usr/lib/koji-builder-plugins)
# and add `kiln_builder` to `plugins` in /etc/kojid/kojid.conf; see koji/README.md, "Plugins".
#
# kilnBuild (parent, any builder of the `image` channel): checks the arches against the build
# tag, reserves the image build NAME-VERSION-RELEASE, makes one createKilnImage task per arch,
# waits for all of them and imports their results as that build (or, for --scratch, moves them
# into the scratch area), then tags it into the target's destination tag.
#
# createKilnImage (one per arch, on a builder of that arch): fetches the kickstart, runs kiln
# on the builder itself (kiln needs no mock chroot: it installs, configures and packages the
# root on its own, a foreign arch through qemu-user binfmt), with the build tag's external
# repositories (or the task's --repo URLs) in place of the kickstart's repos, uploads the ISO,
# kiln's log, the kickstarts, manifest.json and the SBOM, and returns the image info with the
# rpm list of manifest.json (NEVRA, size, buildtime and SIGMD5 as `payloadhash`).
#
# Environment of kojid: KILN names the kiln binary (default: `kiln` on PATH); KILN_KOJI_CACHE
# the --cache the builder's kiln builds share (verified packages, compressed squashfs blocks;
# default WORKDIR/kiln-cache, WORKDIR being kojid's `workdir`).

import json
import os
import re

import koji
import koji.util
from koji.daemon import log_output
from koji.tasks import BaseTaskHandler, ServerExit
from __main__ import BuildImageTask, SCM


def kiln_binary():
    return os.environ.get('KILN', 'kiln')


class KilnBuildTask(BuildImageTask):
    Methods = ['kilnBuild']
    # the parent only waits: its children carry the load
    _taskWeight = 0.2

    def handler(self, name, version, target, arches, ksfile, opts=None):
        opts = dict(opts or {})
        target_info = self.session.getBuildTarget(target, strict=True)
        build_tag = target_info['build_tag']
        buildconfig = self.session.getBuildConfig(build_tag)
        if not buildconfig['arches']:
            raise koji.BuildError("No arches for tag %(name)s [%(id)s]" % buildconfig)
        tag_arches = [koji.canonArch(a) for a in buildconfig['arches'].split()]
        arches = [koji.canonArch(a) for a in arches] or tag_arches
        for arch in arches:
            if arch not in tag_arches:
                raise koji.BuildError("Invalid arch for build tag %s: %s"
                                      % (buildconfig['name'], arch))
        optional = set(opts.get('optional_arches') or [])
        scratch = bool(opts.get('scratch'))

        bld_info = None
        release = opts.get('release')
        if not release:
            release = self.session.getNextRelease({'name': name, 'version': version})
        try:
            if not scratch:
                bld_info = self.initImageBuild(name, version, release, target_info, opts)
                release = bld_info['release']
            subtasks = {}
            for arch in arches:
                subtasks[arch] = self.session.host.subtask(
                    method='createKilnImage',
                    arglist=[name, version, release, arch, target_info, build_tag, ksfile, opts],
                    label=arch, parent=self.id, arch=arch)
            canfail = [subtasks[a] for a in arches if a in optional]
            results = self.wait(list(subtasks.values()), all=True, failany=True,
                                canfail=canfail)
            done = {str(k): v for k, v in results.items()
                    if not (isinstance(v, dict) and 'faultCode' in v)}
            if not done:
                raise koji.GenericError("all subtasks failed")
            if scratch:
                self.session.host.moveImageBuildToScratch(self.id, done)
            else:
                self.session.host.completeImageBuild(self.id, bld_info['id'], done)
        except (SystemExit, ServerExit, KeyboardInterrupt):
            raise
        except Exception:
            if bld_info:
                self.session.host.failBuild(self.id, bld_info['id'])
            raise

        if not scratch and not opts.get('skip_tag'):
            tag_task = self.session.host.subtask(
                method='tagBuild',
                arglist=[target_info['dest_tag'], bld_info['id'], False, None, True],
                label='tag', parent=self.id, arch='noarch')
            self.wait(tag_task)

        if scratch:
            where = ', '.join(os.path.join(koji.pathinfo.work(), koji.pathinfo.taskrelpath(t))
                              for t in subtasks.values())
            return 'Scratch kiln image build results in: %s' % where
        return 'kiln image build results in: %s' % koji.pathinfo.imagebuild(bld_info)


def short_volid(name, version, release):
    """The volume label Koji's image tasks give (name-version-release, at most 32 chars)."""
    return ('%s-%s-%s' % (name, version, release))[:32]


def kiln_error(log_path, limit=40):
    """kiln's error message: its output from the first `error:` line on (kiln reports
    failures there, a kickstart error as `FILE:LINE:COL: error: ...` with the source line),
    else the output's last lines."""
    try:
        with open(log_path, 'rt', errors='replace') as f:
            lines = [ln.rstrip('\n') for ln in f]
    except IOError:
        return ''
    first = next((i for i, ln in enumerate(lines) if re.search(r'(^|: )error: ', ln)), None)
    picked = lines[first:] if first is not None else lines
    return '\n'.join(picked[-limit:]).strip()


class KilnCreateImageTask(BaseTaskHandler):
    Methods = ['createKilnImage']
    _taskWeight = 2.0

    def fetch_kickstart(self, ksfile, build_tag_name, taken):
        """The kickstart as Koji's image tasks take it: from the checkout of opts['ksurl']
        (ksfile is a path in it), from an http(s) URL, or uploaded by the CLI (ksfile is
        relative to the work directory). Uploaded as given, as `original-NAME` when its name
        is `taken` (kiln's flattened kickstart's); returns its local path and upload name."""
        ksdir = os.path.join(self.workdir, 'ks')
        koji.ensuredir(ksdir)
        if self.opts.get('ksurl'):
            scm = SCM(self.opts['ksurl'], allow_password=self.options.allow_password_in_scm_url)
            scm.assert_allowed(
                allowed=self.options.allowed_scms,
                session=self.session,
                by_config=self.options.allowed_scms_use_config,
                by_policy=self.options.allowed_scms_use_policy,
                policy_data={
                    'user_id': self.taskinfo['owner'],
                    'channel': self.session.getChannel(self.taskinfo['channel_id'],
                                                       strict=True)['name'],
                    'scratch': bool(self.opts.get('scratch')),
                })
            logfile = os.path.join(self.workdir, 'checkout.log')
            self.run_callbacks('preSCMCheckout', scminfo=scm.get_info(),
                               build_tag=build_tag_name, scratch=self.opts.get('scratch'))
            srcdir = scm.checkout(ksdir, self.session, self.getUploadDir(), logfile)
            self.run_callbacks('postSCMCheckout', scminfo=scm.get_info(),
                               build_tag=build_tag_name, scratch=self.opts.get('scratch'),
                               srcdir=srcdir)
            kspath = os.path.join(srcdir, ksfile)
        elif re.match(r'https?://', ksfile):
            kspath = os.path.join(ksdir, os.path.basename(ksfile.split('?')[0]) or 'image.ks')
            koji.downloadFile(ksfile, path=kspath)
        else:
            kspath = self.localPath('work/%s' % ksfile)
        if not os.path.isfile(kspath):
            raise koji.BuildError('Kickstart %s does not exist.' % ksfile)
        upload_name = os.path.basename(kspath)
        if upload_name == taken:
            upload_name = 'original-' + upload_name
        self.uploadFile(kspath, remoteName=upload_name)
        return kspath, upload_name

    def repos(self, build_tag, arch):
        """kiln's --repo NAME,URL list and the external repo each name stands for.

        Koji's image tasks replace the kickstart's repos (unless --ksrepo): with the task's
        --repo URLs, else with the build tag's repo. kiln reads repositories directly, so the
        tag's repo here is its external repos, `$arch` expanded, in their priority order."""
        external = self.session.getExternalRepoList(build_tag)
        by_url = {}
        for erepo in external:
            by_url[erepo['url'].replace('$arch', arch).rstrip('/')] = erepo
        if self.opts.get('ksrepo'):
            return [], {}
        if self.opts.get('repo'):
            urls = [u.replace('$arch', arch) for u in self.opts['repo']]
            # the same URL given twice is one repo (as Koji's set() of them)
            urls = list(dict.fromkeys(urls))
            named = []
            for i, url in enumerate(urls):
                erepo = by_url.get(url.rstrip('/'))
                named.append((erepo['external_repo_name'] if erepo else 'koji-override-%d' % i,
                              url, erepo))
        else:
            if not external:
                raise koji.BuildError('build tag %s has no external repos: give --repo URLs'
                                      % build_tag)
            named = [(e['external_repo_name'], e['url'].replace('$arch', arch), e)
                     for e in external]
        return ['%s,%s' % (n, u) for n, u, _ in named], {n: e for n, _, e in named if e}

    def rpmlist(self, manifest, origins):
        """Koji's image rpm list from kiln's manifest: NEVRA, size, buildtime and the SIGMD5
        as payloadhash; `location` (the external repo id) for packages from the tag's
        external repos, which the hub records with add_external_rpm."""
        hdrlist = []
        for rpm in manifest['rpmlist']:
            key = '%(name)s-%(version)s-%(release)s.%(arch)s' % rpm
            erepo = origins.get(rpm['repo'])
            if not erepo:
                raise koji.BuildError('%s came from repo %s, which is none of the build tag\'s '
                                      'external repos' % (key, rpm['repo']))
            if not rpm.get('payloadhash'):
                raise koji.BuildError('%s has no SIGMD5: Koji records rpms by it' % key)
            hdrlist.append({
                'name': rpm['name'],
                'version': rpm['version'],
                'release': rpm['release'],
                'epoch': rpm['epoch'],
                'arch': rpm['arch'],
                'payloadhash': rpm['payloadhash'],
                'size': int(rpm['size']),
                'buildtime': int(rpm['buildtime']),
                'location': erepo['external_repo_id'],
            })
        return hdrlist

    def handler(self, name, version, release, arch, target_info, build_tag, ksfile, opts=None):
        self.opts = dict(opts or {})
        label = self.opts.get('label') or short_volid(name, version, release)
        # kiln writes the flattened kickstart as LABEL.ks
        kspath, ks_upload = self.fetch_kickstart(ksfile, target_info['build_tag_name'],
                                                 label + '.ks')
        repo_args, origins = self.repos(build_tag, arch)
        resultdir = os.path.join(self.workdir, 'result')
        tmpdir = os.path.join(self.workdir, 'tmp')
        koji.ensuredir(tmpdir)
        cache = (os.environ.get('KILN_KOJI_CACHE')
                 or os.path.join(self.options.workdir, 'kiln-cache'))
        kiln = kiln_binary()
        cmd = [kiln, 'build', '--ks', kspath, '--make-iso', '--arch', arch, '-f', label,
               '--resultdir', resultdir, '--tmpdir', tmpdir, '--cache', cache, '--color', 'never']
        for repo in repo_args:
            cmd.extend(['--repo', repo])
        for key, flag in (('compression', '--compression'), ('ksversion', '--ksversion'),
                          ('releasever', '--releasever')):
            if self.opts.get(key):
                cmd.extend([flag, self.opts[key]])
        for arg in self.opts.get('compress_arg') or []:
            cmd.extend(['--compress-arg', arg])

        # kiln's console output, uploaded while it runs
        console = os.path.join(self.workdir, 'kiln.log')
        self.logger.info('Running %s', ' '.join(cmd))
        rv = log_output(self.session, kiln, cmd, console, self.getUploadDir(), logerror=1,
                        env={'NO_COLOR': '1'})
        # kiln's own debug log, also after a failure
        buildlog = os.path.join(resultdir, 'build.log')
        if os.path.isfile(buildlog):
            self.uploadFile(buildlog)
        if rv:
            message = kiln_error(console)
            raise koji.BuildError('kiln failed (%s): %s' % (koji.util.parseStatus(rv, 'kiln'),
                                                            message or 'see kiln.log'))

        with open(os.path.join(resultdir, 'manifest.json'), 'rt') as f:
            manifest = json.load(f)
        isos = [img for img in manifest['images'] if img['type'] == 'iso']
        if len(isos) != 1:
            raise koji.BuildError('kiln made %d ISOs, expected one' % len(isos))
        # livemedia's name: several arches of one build share a directory
        isoname = '%s-%s-%s-%s.iso' % (name, arch, version, release)
        self.uploadFile(os.path.join(resultdir, isos[0]['filename']), remoteName=isoname)
        extras = [manifest['kickstart_flattened'], 'manifest.json', manifest['sbom']]
        for extra in extras:
            self.uploadFile(os.path.join(resultdir, extra))
        logs = ['kiln.log', 'build.log', ks_upload] + extras

        imgdata = {
            'arch': arch,
            'files': [isoname],
            'rootdev': None,
            'task_id': self.id,
            'logs': logs,
            'name': name,
            'version': version,
            'release': release,
        }
        if not self.opts.get('scratch'):
            imgdata['rpmlist'] = self.rpmlist(manifest, origins)
        return imgdata
