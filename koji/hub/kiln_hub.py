# Koji hub plugin: the `kilnBuild` API call, a live media build with kiln on the builders.
#
# Install: copy (or link) this file into the hub's PluginPath (default /usr/lib/koji-hub-plugins)
# and add `kiln_hub` to `Plugins` in /etc/koji-hub/hub.conf; the builders need
# koji/builder/kiln_builder.py (see koji/README.md, "Plugins").
#
# The call only checks its inputs and queues a `kilnBuild` task on the `image` channel; the
# builder side (kiln_builder.py) makes one `createKilnImage` task per arch and imports the
# results as one image build.

import koji
import koji.tasks
import kojihub
from koji.context import context
from koji.plugin import export

# The hub reads task parameters through these when it makes policy data from a task (the
# volume policy of completeImageBuild does) and when it shows a task's request.
koji.tasks.LEGACY_SIGNATURES['kilnBuild'] = [
    [['name', 'version', 'target', 'arches', 'ksfile', 'opts'], None, None, (None,)]]
koji.tasks.LEGACY_SIGNATURES['createKilnImage'] = [
    [['name', 'version', 'release', 'arch', 'target_info', 'build_tag', 'ksfile', 'opts'],
     None, None, (None,)]]

# Options the builder understands, with the type each must have.
STR_OPTS = ('release', 'ksurl', 'ksversion', 'compression', 'label', 'releasever')
LIST_OPTS = ('repo', 'optional_arches', 'compress_arg')
BOOL_OPTS = ('scratch', 'skip_tag', 'ksrepo')
COMPRESSIONS = ('xz', 'zstd', 'gzip', 'lz4')


def _check_opts(opts):
    unknown = sorted(set(opts) - set(STR_OPTS + LIST_OPTS + BOOL_OPTS))
    if unknown:
        raise koji.ParameterError('unknown kilnBuild options: %s' % ', '.join(unknown))
    checked = {}
    for key in STR_OPTS:
        if opts.get(key) is not None:
            checked[key] = kojihub.convert_value(opts[key], cast=str)
    for key in LIST_OPTS:
        if opts.get(key):
            value = kojihub.convert_value(opts[key], cast=list)
            for item in value:
                kojihub.convert_value(item, cast=str, check_only=True)
            checked[key] = value
    for key in BOOL_OPTS:
        if opts.get(key):
            checked[key] = True
    if checked.get('compression') and checked['compression'] not in COMPRESSIONS:
        raise koji.ParameterError('compression must be one of %s, not %r'
                                  % (', '.join(COMPRESSIONS), checked['compression']))
    if checked.get('ksrepo') and not checked.get('scratch'):
        # an image build records its rpms as the build tag's external rpms; the kickstart's
        # own repos are none of those
        raise koji.ParameterError('ksrepo (keeping the kickstart\'s repos) needs scratch')
    label = checked.get('label')
    if label is not None and not 0 < len(label) <= 32:
        raise koji.ParameterError('label (the volume id) takes 1 to 32 characters')
    # version and release become parts of an NVR: a dash would shift the fields
    if '-' in checked.get('release', ''):
        raise koji.ParameterError('release may not contain "-": %r' % checked['release'])
    return checked


@export
def kilnBuild(name, version, target, arches, ksfile, opts=None, priority=None):
    """Build live media with kiln for each arch in arches, as one image build NAME-VERSION-R.

    :param str name: the image build's (package) name
    :param str version: its version
    :param str target: the build target; its build tag's arches bound `arches`, its external
                       repos are the packages' source unless opts give `repo`
    :param arches: arches to build (list or space-separated string)
    :param str ksfile: the kickstart: a path the CLI uploaded (relative to the work dir), a
                       path in the checkout of opts['ksurl'] (an SCM URL), or an http(s) URL
    :param dict opts: release, scratch, skip_tag, repo (list of URLs, `$arch` expanded),
                      ksrepo (keep the kickstart's repos), ksurl, ksversion, compression
                      (xz, zstd, gzip, lz4), compress_arg (list), label (volume id, at most 32
                      characters), releasever, optional_arches (list)
    :param int priority: relative priority; only admins may go below 0
    :returns: the id of the parent task
    """
    context.session.assertPerm('image')
    for value in (name, version, target, ksfile):
        kojihub.convert_value(value, cast=str, check_only=True)
    kojihub.verify_name_internal(name)
    if '-' in version:
        raise koji.ParameterError('version may not contain "-": %r' % version)
    opts = _check_opts(kojihub.convert_value(opts or {}, cast=dict))
    kojihub.get_build_target(target, strict=True)
    if isinstance(arches, list):
        arches = ' '.join(arches)
    arches = koji.parse_arches(arches, to_list=True, strict=True, allow_none=False)
    if opts.get('optional_arches'):
        opts['optional_arches'] = koji.parse_arches(
            ' '.join(opts['optional_arches']), to_list=True, strict=True, allow_none=True)
    task_opts = {'channel': 'image'}
    if priority:
        priority = kojihub.convert_value(priority, cast=int)
        if priority < 0 and not context.session.hasPerm('admin'):
            raise koji.ActionNotAllowed('only admins may create high-priority tasks')
        task_opts['priority'] = koji.PRIO_DEFAULT + priority
    return kojihub.make_task('kilnBuild', [name, version, target, arches, ksfile, opts],
                             **task_opts)
