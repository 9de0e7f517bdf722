/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Patch signatures. A signed patch file is the patch file followed by a
 * fixed 104-byte trailer (struct graft_sig_trailer) holding the key id and
 * an Ed25519 signature over the patch bytes and the trailer's own fields up
 * to the signature. ELF readers ignore bytes past the sections, so readelf
 * still reads a signed file; changing any byte of patch or trailer breaks
 * the signature or the trailer's own checks.
 *
 * Key files are short text: a header line, "key-id", "public" or "secret"
 * (base64), "comment". The key id is the first 8 bytes of the BLAKE2b hash
 * of the public key, so a signature names the key that can check it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "patch/format.h"
#include "patch/sig.h"
#include "util/log.h"

#define HDR_PUBLIC "graft ed25519 public key"
#define HDR_SECRET "graft ed25519 secret key"

static int sig_init(struct graft_err *err)
{
	if (sodium_init() < 0)
		return graft_err_set(err, -EIO, "libsodium cannot initialise");
	return 0;
}

static void key_id_of(const uint8_t pk[GRAFT_SIG_PK_SIZE], uint8_t id[GRAFT_SIG_KEY_ID_SIZE])
{
	uint8_t h[32];

	crypto_generichash(h, sizeof(h), pk, GRAFT_SIG_PK_SIZE, NULL, 0);
	memcpy(id, h, GRAFT_SIG_KEY_ID_SIZE);
}

static void hex8(const uint8_t id[GRAFT_SIG_KEY_ID_SIZE], char out[2 * GRAFT_SIG_KEY_ID_SIZE + 1])
{
	graft_hex(id, GRAFT_SIG_KEY_ID_SIZE, out);
}

const char *graft_sig_keys_dir(const char *given)
{
	const char *env = getenv(GRAFT_KEYS_DIR_ENV);

	if (given && *given)
		return given;
	return env && *env ? env : GRAFT_KEYS_DIR;
}

static int write_key_file(const char *path, mode_t mode, const char *text, struct graft_err *err)
{
	_cleanup_free_ char *tmp = NULL;
	int fd;
	size_t n = strlen(text);

	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	fd = mkstemp(tmp);
	if (fd < 0)
		return graft_err_set(err, -errno, "cannot create '%s': %s", path, strerror(errno));
	if (fchmod(fd, mode) < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) < 0) {
		int e = errno;

		(void)close(fd);
		(void)unlink(tmp);
		return graft_err_set(err, -e, "cannot write '%s': %s", path, strerror(e));
	}
	(void)close(fd);
	if (rename(tmp, path) < 0) {
		int e = errno;

		(void)unlink(tmp);
		return graft_err_set(err, -e, "cannot write '%s': %s", path, strerror(e));
	}
	return 0;
}

static bool comment_ok(const char *c)
{
	for (; *c; c++)
		if (*c == '\n' || *c == '\r')
			return false;
	return true;
}

int graft_sig_keygen(const char *prefix, const char *comment, struct graft_sig_key *out,
		     struct graft_err *err)
{
	struct graft_sig_key k = {0};
	char b64pk[sodium_base64_ENCODED_LEN(GRAFT_SIG_PK_SIZE, sodium_base64_VARIANT_ORIGINAL)];
	char b64sk[sodium_base64_ENCODED_LEN(GRAFT_SIG_SK_SIZE, sodium_base64_VARIANT_ORIGINAL)];
	char id[2 * GRAFT_SIG_KEY_ID_SIZE + 1];
	_cleanup_free_ char *pub = NULL, *sec = NULL, *ptext = NULL, *stext = NULL;
	struct stat st;
	int r;

	if ((r = sig_init(err)) < 0)
		return r;
	if (!comment)
		comment = "";
	if (!comment_ok(comment) || strlen(comment) >= sizeof(k.comment))
		return graft_err_set(err, -EINVAL, "the comment must be one line of < 128 bytes");
	if (asprintf(&pub, "%s.pub", prefix) < 0 || asprintf(&sec, "%s.key", prefix) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (stat(sec, &st) == 0 || stat(pub, &st) == 0)
		return graft_err_set(err, -EEXIST,
				     "'%s' or '%s' exists already; not overwriting a key", sec,
				     pub);
	crypto_sign_keypair(k.pk, k.sk);
	k.has_secret = true;
	key_id_of(k.pk, k.key_id);
	hex8(k.key_id, id);
	(void)snprintf(k.comment, sizeof(k.comment), "%s", comment);
	sodium_bin2base64(b64pk, sizeof(b64pk), k.pk, sizeof(k.pk), sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(b64sk, sizeof(b64sk), k.sk, sizeof(k.sk), sodium_base64_VARIANT_ORIGINAL);
	if (asprintf(&ptext, HDR_PUBLIC "\nkey-id %s\npublic %s\ncomment %s\n", id, b64pk,
		     comment) < 0 ||
	    asprintf(&stext, HDR_SECRET "\nkey-id %s\nsecret %s\ncomment %s\n", id, b64sk,
		     comment) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	sodium_memzero(b64sk, sizeof(b64sk));
	r = write_key_file(sec, 0600, stext, err);
	sodium_memzero(stext, strlen(stext));
	if (r < 0)
		return r;
	if ((r = write_key_file(pub, 0644, ptext, err)) < 0) {
		(void)unlink(sec);
		return r;
	}
	(void)snprintf(k.path, sizeof(k.path), "%s", sec);
	if (out)
		*out = k;
	sodium_memzero(&k, sizeof(k));
	return 0;
}

int graft_sig_key_parse(const char *text, size_t len, const char *name, struct graft_sig_key *out,
			struct graft_err *err)
{
	struct graft_sig_key k = {0};
	bool secret, have_id = false, have_key = false;
	uint8_t id[GRAFT_SIG_KEY_ID_SIZE];
	char line[512];
	size_t pos = 0, lineno = 0;
	int r;

	if ((r = sig_init(err)) < 0)
		return r;
	if (len > GRAFT_KEY_FILE_MAX)
		return graft_err_set(err, -EFBIG, "key file '%s' is too large", name);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		const char *v;

		if (n >= sizeof(line))
			return graft_err_set(err, -EINVAL, "key file '%s': line %zu is too long",
					     name, lineno + 1);
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + 1;
		if (memchr(line, '\0', n))
			return graft_err_set(err, -EINVAL, "key file '%s': NUL byte", name);
		if (lineno++ == 0) {
			if (strcmp(line, HDR_PUBLIC) && strcmp(line, HDR_SECRET))
				return graft_err_set(err, -EINVAL,
						     "'%s' is not a graft key file (first line)",
						     name);
			k.has_secret = !strcmp(line, HDR_SECRET);
			continue;
		}
		if (!n)
			continue;
		v = strchr(line, ' ');
		v = v ? v + 1 : "";
		if (!strncmp(line, "key-id ", 7)) {
			if (sodium_hex2bin(id, sizeof(id), v, strlen(v), NULL, NULL, NULL) != 0 ||
			    strlen(v) != 2 * sizeof(id))
				return graft_err_set(err, -EINVAL, "key file '%s': bad key-id",
						     name);
			have_id = true;
		} else if (!strncmp(line, "public ", 7) || !strncmp(line, "secret ", 7)) {
			size_t got = 0;

			secret = line[0] == 's';
			if (secret != k.has_secret || have_key)
				return graft_err_set(err, -EINVAL,
						     "key file '%s': unexpected '%.6s' line", name,
						     line);
			if (sodium_base642bin(secret ? k.sk : k.pk,
					      secret ? sizeof(k.sk) : sizeof(k.pk), v, strlen(v),
					      NULL, &got, NULL,
					      sodium_base64_VARIANT_ORIGINAL) != 0 ||
			    got != (secret ? sizeof(k.sk) : sizeof(k.pk)))
				return graft_err_set(err, -EINVAL, "key file '%s': bad key bytes",
						     name);
			if (secret)
				memcpy(k.pk, k.sk + 32,
				       sizeof(k.pk)); /* libsodium: seed, then pk */
			have_key = true;
		} else if (!strncmp(line, "comment ", 8)) {
			(void)snprintf(k.comment, sizeof(k.comment), "%s", v);
		} else {
			return graft_err_set(err, -EINVAL, "key file '%s': unknown line '%.32s'",
					     name, line);
		}
	}
	if (!have_id || !have_key)
		return graft_err_set(err, -EINVAL, "key file '%s': missing %s", name,
				     have_id ? "the key" : "key-id");
	key_id_of(k.pk, k.key_id);
	if (memcmp(k.key_id, id, sizeof(id)) != 0)
		return graft_err_set(err, -EINVAL, "key file '%s': key-id does not match the key",
				     name);
	if (k.has_secret) {
		/* the secret key must make the public key it carries */
		uint8_t pk[GRAFT_SIG_PK_SIZE];

		crypto_sign_ed25519_sk_to_pk(pk, k.sk);
		if (memcmp(pk, k.pk, sizeof(pk)) != 0)
			return graft_err_set(err, -EINVAL, "key file '%s': inconsistent secret key",
					     name);
	}
	(void)snprintf(k.path, sizeof(k.path), "%s", name);
	*out = k;
	sodium_memzero(&k, sizeof(k));
	return 0;
}

int graft_sig_key_load(const char *path, struct graft_sig_key *out, struct graft_err *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = graft_read_file(path, GRAFT_KEY_FILE_MAX, &text, &len, err);

	if (r < 0)
		return r;
	r = graft_sig_key_parse(text, len, path, out, err);
	sodium_memzero(text, len);
	return r;
}

int graft_sig_inspect(const uint8_t *buf, size_t len, struct graft_sig_status *st,
		      struct graft_err *err)
{
	struct graft_sig_trailer t;

	memset(st, 0, sizeof(*st));
	st->payload_len = len;
	if (len < sizeof(t) ||
	    memcmp(buf + len - 8, GRAFT_SIG_MAGIC_END, 8) != 0) /* no trailer: unsigned */
		return 0;
	memcpy(&t, buf + len - sizeof(t), sizeof(t));
	if (memcmp(t.magic, GRAFT_SIG_MAGIC, 8) != 0 || t.version != GRAFT_SIG_VERSION ||
	    t.size != sizeof(t) || t.payload_len != len - sizeof(t))
		return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EBADMSG,
				      "malformed signature trailer (altered file?)");
	st->is_signed = true;
	memcpy(st->key_id, t.key_id, sizeof(t.key_id));
	hex8(t.key_id, st->key_id_hex);
	st->payload_len = (size_t)t.payload_len;
	return 0;
}

/* What is signed: the patch, then the trailer up to the signature. */
static uint8_t *signed_message(const uint8_t *payload, size_t plen,
			       const struct graft_sig_trailer *t, size_t *mlen)
{
	size_t head = offsetof(struct graft_sig_trailer, sig);
	uint8_t *m = malloc(plen + head);

	if (!m)
		return NULL;
	memcpy(m, payload, plen);
	memcpy(m + plen, t, head);
	*mlen = plen + head;
	return m;
}

int graft_sig_verify_with(const uint8_t *buf, size_t len, const struct graft_sig_key *key,
			  struct graft_err *err)
{
	struct graft_sig_status st;
	struct graft_sig_trailer t;
	_cleanup_free_ uint8_t *m = NULL;
	size_t mlen;
	int r;

	if ((r = sig_init(err)) < 0 || (r = graft_sig_inspect(buf, len, &st, err)) < 0)
		return r;
	if (!st.is_signed)
		return graft_err_setk(err, GRAFT_ERR_UNSAFE, -ENOKEY, "not signed");
	memcpy(&t, buf + len - sizeof(t), sizeof(t));
	if (memcmp(t.key_id, key->key_id, sizeof(t.key_id)) != 0)
		return graft_err_setk(err, GRAFT_ERR_UNSAFE, -ENOKEY, "signed by another key");
	if (!(m = signed_message(buf, st.payload_len, &t, &mlen)))
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (crypto_sign_verify_detached(t.sig, m, mlen, key->pk) != 0)
		return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EKEYREJECTED,
				      "the signature does not verify");
	return 0;
}

int graft_sig_verify_dir(const uint8_t *buf, size_t len, const char *name, const char *dir,
			 struct graft_sig_status *st, struct graft_err *err)
{
	DIR *d;
	struct dirent *de;
	unsigned nkeys = 0;
	int r;

	dir = graft_sig_keys_dir(dir);
	if ((r = graft_sig_inspect(buf, len, st, err)) < 0)
		return graft_err_prefix(err, r, "patch file '%s'", name);
	if (!st->is_signed)
		return graft_err_setk(err, GRAFT_ERR_UNSAFE, -ENOKEY,
				      "patch file '%s' is not signed; sign it with 'graft sign' or "
				      "give --insecure-skip-signature",
				      name);
	d = opendir(dir);
	if (!d)
		return graft_err_setk(err, GRAFT_ERR_UNSAFE, -ENOKEY,
				      "patch file '%s' is signed by key %s, but the trusted keys "
				      "directory '%s' cannot be read: %s",
				      name, st->key_id_hex, dir, strerror(errno));
	while ((de = readdir(d)) && nkeys < GRAFT_KEYS_MAX) {
		struct graft_sig_key k;
		_cleanup_free_ char *path = NULL;
		size_t n = strlen(de->d_name);

		if (n < 5 || strcmp(de->d_name + n - 4, ".pub") != 0 || de->d_name[0] == '.')
			continue;
		nkeys++;
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
			closedir(d);
			return graft_err_set(err, -ENOMEM, "out of memory");
		}
		if (graft_sig_key_load(path, &k, NULL) < 0) {
			graft_warn("ignoring unreadable key file '%s'", path);
			continue;
		}
		if (memcmp(k.key_id, st->key_id, sizeof(k.key_id)) != 0)
			continue;
		closedir(d);
		(void)snprintf(st->key_path, sizeof(st->key_path), "%s", path);
		r = graft_sig_verify_with(buf, len, &k, NULL);
		if (r < 0)
			return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EKEYREJECTED,
					      "patch file '%s': the signature by key %s (%s) does "
					      "not verify: the file was altered after signing",
					      name, st->key_id_hex, path);
		st->trusted = true;
		return 0;
	}
	closedir(d);
	return graft_err_setk(err, GRAFT_ERR_UNSAFE, -ENOKEY,
			      "patch file '%s' is signed by key %s, which is not trusted: no key "
			      "with that id in '%s'",
			      name, st->key_id_hex, dir);
}

int graft_sig_sign_file(const char *path, const char *keyfile, const char *out,
			struct graft_sig_status *st, struct graft_err *err)
{
	_cleanup_free_ char *buf = NULL, *tmp = NULL;
	_cleanup_free_ uint8_t *m = NULL;
	struct graft_sig_trailer t = {0};
	struct graft_sig_key k;
	struct graft_patch *p = NULL;
	size_t len, mlen;
	int r, fd;

	if ((r = sig_init(err)) < 0 || (r = graft_sig_key_load(keyfile, &k, err)) < 0)
		return r;
	if (!k.has_secret) {
		sodium_memzero(&k, sizeof(k));
		return graft_err_set(err, -EINVAL,
				     "'%s' is a public key; signing needs the .key file", keyfile);
	}
	r = graft_read_file(path, GRAFT_PATCH_FILE_MAX + sizeof(t), &buf, &len, err);
	if (r == 0)
		r = graft_sig_inspect((uint8_t *)buf, len, st, err);
	if (r == 0) {
		/* sign only what apply would accept: the patch proper must parse */
		uint8_t *copy = malloc(st->payload_len ? st->payload_len : 1);

		if (!copy) {
			r = graft_err_set(err, -ENOMEM, "out of memory");
		} else {
			memcpy(copy, buf, st->payload_len);
			r = graft_patch_parse(copy, st->payload_len, path, &p, err);
			if (r < 0)
				free(copy);
			graft_patch_free(p);
		}
	}
	if (r < 0) {
		sodium_memzero(&k, sizeof(k));
		return r;
	}
	memcpy(t.magic, GRAFT_SIG_MAGIC, 8);
	memcpy(t.magic_end, GRAFT_SIG_MAGIC_END, 8);
	t.version = GRAFT_SIG_VERSION;
	t.size = sizeof(t);
	t.payload_len = st->payload_len; /* an older signature is replaced */
	memcpy(t.key_id, k.key_id, sizeof(t.key_id));
	m = signed_message((uint8_t *)buf, st->payload_len, &t, &mlen);
	if (!m) {
		sodium_memzero(&k, sizeof(k));
		return graft_err_set(err, -ENOMEM, "out of memory");
	}
	crypto_sign_detached(t.sig, NULL, m, mlen, k.sk);
	sodium_memzero(&k, sizeof(k));
	if (asprintf(&tmp, "%s.tmp.XXXXXX", out) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	fd = mkstemp(tmp);
	if (fd < 0)
		return graft_err_set(err, -errno, "cannot create '%s': %s", tmp, strerror(errno));
	r = fchmod(fd, 0644) < 0 || write(fd, buf, st->payload_len) != (ssize_t)st->payload_len ||
			    write(fd, &t, sizeof(t)) != (ssize_t)sizeof(t) || fsync(fd) < 0
		    ? -errno
		    : 0;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, out) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp);
		return graft_err_set(err, r ? r : -EIO, "cannot write '%s': %s", out, strerror(-r));
	}
	st->is_signed = true;
	memcpy(st->key_id, t.key_id, sizeof(t.key_id));
	hex8(t.key_id, st->key_id_hex);
	return 0;
}

int graft_patch_load_verified(const char *path, const char *keys_dir, bool verify,
			      struct graft_patch **out, struct graft_sig_status *st,
			      struct graft_err *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	r = graft_read_file(path, GRAFT_PATCH_FILE_MAX + sizeof(struct graft_sig_trailer), &buf,
			    &len, err);
	if (r < 0)
		return r;
	if (verify)
		r = graft_sig_verify_dir((uint8_t *)buf, len, path, keys_dir, st, err);
	else if (graft_sig_inspect((uint8_t *)buf, len, st, NULL) < 0)
		st->payload_len = len; /* told to ignore signatures: even a broken one */
	if (r < 0)
		return r;
	r = graft_patch_parse((uint8_t *)buf, st->payload_len, path, out, err);
	if (r == 0)
		buf = NULL; /* owned by the patch now */
	return r;
}
