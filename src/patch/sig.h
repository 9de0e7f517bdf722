/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signed patch files: Ed25519 (libsodium) signatures in a fixed trailer
 * appended to the patch file, and the key files that make and check them.
 * docs/patch-format.md ("Signature") is the specification.
 */
#ifndef GRAFT_PATCH_SIG_H
#define GRAFT_PATCH_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define GRAFT_SIG_MAGIC	      "GRAFTSIG"
#define GRAFT_SIG_MAGIC_END   "GRAFTEND"
#define GRAFT_SIG_VERSION     1
#define GRAFT_SIG_KEY_ID_SIZE 8
#define GRAFT_SIG_SIZE	      64
#define GRAFT_SIG_PK_SIZE     32
#define GRAFT_SIG_SK_SIZE     64
#define GRAFT_KEYS_DIR	      "/etc/graft/keys.d"
#define GRAFT_KEYS_DIR_ENV    "GRAFT_KEYS_DIR"
#define GRAFT_KEY_FILE_MAX    4096u
#define GRAFT_KEYS_MAX	      256u

/* The last 104 bytes of a signed patch file; all integers little endian. */
struct graft_sig_trailer {
	char magic[8];	      /* "GRAFTSIG" */
	uint32_t version;     /* 1 */
	uint32_t size;	      /* sizeof(struct graft_sig_trailer) */
	uint64_t payload_len; /* the bytes before the trailer */
	uint8_t key_id[GRAFT_SIG_KEY_ID_SIZE];
	uint8_t sig[GRAFT_SIG_SIZE]; /* over payload, then this trailer up to sig */
	char magic_end[8];	     /* "GRAFTEND" */
};

struct graft_sig_key {
	uint8_t key_id[GRAFT_SIG_KEY_ID_SIZE];
	uint8_t pk[GRAFT_SIG_PK_SIZE];
	uint8_t sk[GRAFT_SIG_SK_SIZE]; /* zero for public keys */
	bool has_secret;
	char comment[128];
	char path[256]; /* where it was read from */
};

struct graft_sig_status {
	bool is_signed;
	uint8_t key_id[GRAFT_SIG_KEY_ID_SIZE];
	char key_id_hex[2 * GRAFT_SIG_KEY_ID_SIZE + 1];
	size_t payload_len; /* the patch file proper */
	bool trusted;	    /* verified with a key of the directory */
	char key_path[256];
};

/* Make a key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub. */
int graft_sig_keygen(const char *prefix, const char *comment, struct graft_sig_key *out,
		     struct graft_err *err);
/* Parse a key file (public or secret): untrusted text, bounded. */
int graft_sig_key_parse(const char *text, size_t len, const char *name, struct graft_sig_key *out,
			struct graft_err *err);
int graft_sig_key_load(const char *path, struct graft_sig_key *out, struct graft_err *err);

/*
 * Split a buffer into patch and signature trailer without checking the
 * signature: *st says whether it is signed, by which key id, and how long
 * the patch proper is. A trailer that is present but malformed is an error.
 */
int graft_sig_inspect(const uint8_t *buf, size_t len, struct graft_sig_status *st,
		      struct graft_err *err);
/* Verify against one key; 0 when the signature is good. */
int graft_sig_verify_with(const uint8_t *buf, size_t len, const struct graft_sig_key *key,
			  struct graft_err *err);
/*
 * Verify against the trusted keys in dir (NULL: $GRAFT_KEYS_DIR, else
 * /etc/graft/keys.d). Unsigned, unknown key, bad signature: GRAFT_ERR_UNSAFE
 * with a message that names the key expected or what failed.
 */
int graft_sig_verify_dir(const uint8_t *buf, size_t len, const char *name, const char *dir,
			 struct graft_sig_status *st, struct graft_err *err);
const char *graft_sig_keys_dir(const char *given);

struct graft_patch;
/*
 * Load a patch file for apply: verify its signature against the trusted
 * keys in keys_dir first (unless verify is false), then parse the patch
 * proper. *st tells who signed it.
 */
int graft_patch_load_verified(const char *path, const char *keys_dir, bool verify,
			      struct graft_patch **out, struct graft_sig_status *st,
			      struct graft_err *err);

/* Sign the patch at path with the secret key file; writes out (may be path). */
int graft_sig_sign_file(const char *path, const char *keyfile, const char *out,
			struct graft_sig_status *st, struct graft_err *err);

#endif
