//! RPM's numbers, as rpm's own headers define them (rpmtag.h, rpmds.h, rpmfiles.h): header
//! data types, tag numbers of the main and signature headers, dependency sense flags, file
//! flags and file states. One table, so the header reader, the digest check and the rpmdb
//! writer cannot disagree on a number.

// Header entry data types (rpmtag.h `rpmTagType`).
/// `RPM_NULL_TYPE`, a header entry's data type.
pub const TYPE_NULL: u32 = 0;
/// `RPM_CHAR_TYPE`, a header entry's data type.
pub const TYPE_CHAR: u32 = 1;
/// `RPM_INT8_TYPE`, a header entry's data type.
pub const TYPE_INT8: u32 = 2;
/// `RPM_INT16_TYPE`, a header entry's data type.
pub const TYPE_INT16: u32 = 3;
/// `RPM_INT32_TYPE`, a header entry's data type.
pub const TYPE_INT32: u32 = 4;
/// `RPM_INT64_TYPE`, a header entry's data type.
pub const TYPE_INT64: u32 = 5;
/// `RPM_STRING_TYPE`, a header entry's data type.
pub const TYPE_STRING: u32 = 6;
/// `RPM_BIN_TYPE`, a header entry's data type.
pub const TYPE_BIN: u32 = 7;
/// `RPM_STRING_ARRAY_TYPE`, a header entry's data type.
pub const TYPE_STRING_ARRAY: u32 = 8;
/// `RPM_I18NSTRING_TYPE`, a header entry's data type.
pub const TYPE_I18NSTRING: u32 = 9;

// Tag numbers of the main header (rpmtag.h), and the region tags every header starts with.
/// `RPMTAG_HEADERIMAGE`.
pub const TAG_HEADERIMAGE: u32 = 61;
/// `RPMTAG_HEADERIMMUTABLE`.
pub const TAG_HEADERIMMUTABLE: u32 = 63;
/// `RPMTAG_HEADERREGIONS`.
pub const TAG_HEADERREGIONS: u32 = 64;
/// `HEADER_SIGBASE`: signature tags carried in the main header are numbered from here.
pub const SIGBASE: u32 = 256;
/// `RPMTAG_SIGSIZE`.
pub const TAG_SIGSIZE: u32 = 257;
/// `RPMTAG_SIGPGP`.
pub const TAG_SIGPGP: u32 = 259;
/// `RPMTAG_SIGMD5`.
pub const TAG_SIGMD5: u32 = 261;
/// `RPMTAG_SIGGPG`.
pub const TAG_SIGGPG: u32 = 262;
/// `RPMTAG_SIGPGP5`.
pub const TAG_SIGPGP5: u32 = 263;
/// `RPMTAG_SHA1HEADER`.
pub const TAG_SHA1HEADER: u32 = 269;
/// `HEADER_TAGBASE`: the main header's own tags start here.
pub const TAGBASE: u32 = 1000;
/// `RPMTAG_NAME`.
pub const TAG_NAME: u32 = 1000;
/// `RPMTAG_VERSION`.
pub const TAG_VERSION: u32 = 1001;
/// `RPMTAG_RELEASE`.
pub const TAG_RELEASE: u32 = 1002;
/// `RPMTAG_EPOCH`.
pub const TAG_EPOCH: u32 = 1003;
/// `RPMTAG_INSTALLTIME`.
pub const TAG_INSTALLTIME: u32 = 1008;
/// `RPMTAG_GROUP`.
pub const TAG_GROUP: u32 = 1016;
/// `RPMTAG_ARCH`.
pub const TAG_ARCH: u32 = 1022;
/// `RPMTAG_OLDFILENAMES`.
pub const TAG_OLDFILENAMES: u32 = 1027;
/// `RPMTAG_FILESTATES`.
pub const TAG_FILESTATES: u32 = 1029;
/// `RPMTAG_ARCHIVESIZE`.
pub const TAG_ARCHIVESIZE: u32 = 1046;
/// `RPMTAG_PROVIDENAME`.
pub const TAG_PROVIDENAME: u32 = 1047;
/// `RPMTAG_REQUIREFLAGS`.
pub const TAG_REQUIREFLAGS: u32 = 1048;
/// `RPMTAG_REQUIRENAME`.
pub const TAG_REQUIRENAME: u32 = 1049;
/// `RPMTAG_CONFLICTNAME`.
pub const TAG_CONFLICTNAME: u32 = 1054;
/// `RPMTAG_TRIGGERNAME`.
pub const TAG_TRIGGERNAME: u32 = 1066;
/// `RPMTAG_OBSOLETENAME`.
pub const TAG_OBSOLETENAME: u32 = 1090;
/// `RPMTAG_PREFIXES`.
pub const TAG_PREFIXES: u32 = 1098;
/// `RPMTAG_INSTPREFIXES`.
pub const TAG_INSTPREFIXES: u32 = 1099;
/// `RPMTAG_DIRINDEXES`.
pub const TAG_DIRINDEXES: u32 = 1116;
/// `RPMTAG_BASENAMES`.
pub const TAG_BASENAMES: u32 = 1117;
/// `RPMTAG_DIRNAMES`.
pub const TAG_DIRNAMES: u32 = 1118;
/// `RPMTAG_ORIGDIRINDEXES`.
pub const TAG_ORIGDIRINDEXES: u32 = 1119;
/// `RPMTAG_ORIGBASENAMES`.
pub const TAG_ORIGBASENAMES: u32 = 1120;
/// `RPMTAG_ORIGDIRNAMES`.
pub const TAG_ORIGDIRNAMES: u32 = 1121;
/// `RPMTAG_INSTALLCOLOR`.
pub const TAG_INSTALLCOLOR: u32 = 1127;
/// `RPMTAG_INSTALLTID`.
pub const TAG_INSTALLTID: u32 = 1128;
/// `RPMTAG_RECOMMENDNAME`.
pub const TAG_RECOMMENDNAME: u32 = 5046;
/// `RPMTAG_SUGGESTNAME`.
pub const TAG_SUGGESTNAME: u32 = 5049;
/// `RPMTAG_SUPPLEMENTNAME`.
pub const TAG_SUPPLEMENTNAME: u32 = 5052;
/// `RPMTAG_ENHANCENAME`.
pub const TAG_ENHANCENAME: u32 = 5055;
/// `RPMTAG_FILETRIGGERNAME`.
pub const TAG_FILETRIGGERNAME: u32 = 5069;
/// `RPMTAG_FILETRIGGERINDEX`.
pub const TAG_FILETRIGGERINDEX: u32 = 5070;
/// `RPMTAG_TRANSFILETRIGGERNAME`.
pub const TAG_TRANSFILETRIGGERNAME: u32 = 5079;
/// `RPMTAG_TRANSFILETRIGGERINDEX`.
pub const TAG_TRANSFILETRIGGERINDEX: u32 = 5080;
/// `RPMTAG_FILESIGNATURES`.
pub const TAG_FILESIGNATURES: u32 = 5090;
/// `RPMTAG_FILESIGNATURELENGTH`.
pub const TAG_FILESIGNATURELENGTH: u32 = 5091;
/// `RPMTAG_PAYLOADDIGEST`.
pub const TAG_PAYLOADDIGEST: u32 = 5092;
/// `RPMTAG_PAYLOADDIGESTALT`.
pub const TAG_PAYLOADDIGESTALT: u32 = 5097;

// Tag numbers of the signature header (rpmtag.h `rpmSigTag`).
/// `RPMSIGTAG_SHA1`, in the signature header.
pub const SIGTAG_SHA1: u32 = 269;
/// `RPMSIGTAG_SHA256`, in the signature header.
pub const SIGTAG_SHA256: u32 = 273;
/// `RPMSIGTAG_FILESIGNATURES`, in the signature header.
pub const SIGTAG_FILESIGNATURES: u32 = 274;
/// `RPMSIGTAG_FILESIGNATURELENGTH`, in the signature header.
pub const SIGTAG_FILESIGNATURELENGTH: u32 = 275;
/// `RPMSIGTAG_SIZE`, in the signature header.
pub const SIGTAG_SIZE: u32 = 1000;
/// `RPMSIGTAG_PGP`, in the signature header.
pub const SIGTAG_PGP: u32 = 1002;
/// `RPMSIGTAG_MD5`, in the signature header.
pub const SIGTAG_MD5: u32 = 1004;
/// `RPMSIGTAG_GPG`, in the signature header.
pub const SIGTAG_GPG: u32 = 1005;
/// `RPMSIGTAG_PGP5`, in the signature header.
pub const SIGTAG_PGP5: u32 = 1006;
/// `RPMSIGTAG_PAYLOADSIZE`, in the signature header.
pub const SIGTAG_PAYLOADSIZE: u32 = 1007;

// Dependency sense flags (rpmds.h `rpmsenseFlags_e`).
/// `RPMSENSE_POSTTRANS`.
pub const RPMSENSE_POSTTRANS: u32 = 1 << 5;
/// `RPMSENSE_PRETRANS`.
pub const RPMSENSE_PRETRANS: u32 = 1 << 7;
/// `RPMSENSE_SCRIPT_PRE`.
pub const RPMSENSE_SCRIPT_PRE: u32 = 1 << 9;
/// `RPMSENSE_SCRIPT_POST`.
pub const RPMSENSE_SCRIPT_POST: u32 = 1 << 10;
/// `RPMSENSE_SCRIPT_PREUN`.
pub const RPMSENSE_SCRIPT_PREUN: u32 = 1 << 11;
/// `RPMSENSE_SCRIPT_POSTUN`.
pub const RPMSENSE_SCRIPT_POSTUN: u32 = 1 << 12;
/// `RPMSENSE_TRIGGERIN`.
pub const RPMSENSE_TRIGGERIN: u32 = 1 << 16;
/// `RPMSENSE_TRIGGERUN`.
pub const RPMSENSE_TRIGGERUN: u32 = 1 << 17;
/// `RPMSENSE_TRIGGERPOSTUN`.
pub const RPMSENSE_TRIGGERPOSTUN: u32 = 1 << 18;
/// `RPMSENSE_RPMLIB`.
pub const RPMSENSE_RPMLIB: u32 = 1 << 24;
/// `RPMSENSE_TRIGGERPREIN`.
pub const RPMSENSE_TRIGGERPREIN: u32 = 1 << 25;
/// `RPMSENSE_KEYRING`.
pub const RPMSENSE_KEYRING: u32 = 1 << 26;

// File flags (rpmfiles.h `rpmfileAttrs_e`).
/// `RPMFILE_CONFIG`.
pub const RPMFILE_CONFIG: u32 = 1;
/// `RPMFILE_DOC`.
pub const RPMFILE_DOC: u32 = 1 << 1;
/// `RPMFILE_GHOST`.
pub const RPMFILE_GHOST: u32 = 1 << 6;

// File states the rpmdb records per file (rpmfiles.h `rpmfileState_e`).
/// `RPMFILE_STATE_NORMAL`.
pub const RPMFILE_STATE_NORMAL: u8 = 0;
/// `RPMFILE_STATE_REPLACED`.
pub const RPMFILE_STATE_REPLACED: u8 = 1;
/// `RPMFILE_STATE_NOTINSTALLED`.
pub const RPMFILE_STATE_NOTINSTALLED: u8 = 2;
/// `RPMFILE_STATE_NETSHARED`.
pub const RPMFILE_STATE_NETSHARED: u8 = 3;
/// `RPMFILE_STATE_WRONGCOLOR`.
pub const RPMFILE_STATE_WRONGCOLOR: u8 = 4;
