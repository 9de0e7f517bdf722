/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the signature envelope and key files, the code that reads
 * a signed patch's trailer and the trusted keys before anything else.
 * The first byte picks the parser: even, a key file; odd, a signed patch
 * checked against a fixed key (and, when it verifies, the patch reader).
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "patch/format.h"
#include "patch/sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct graft_sig_key key;
	static bool ready;
	struct graft_sig_status st;
	struct graft_err err = {0};

	if (!ready) {
		/* a fixed key: seeds signed with it verify (make-seeds.sh uses the same seed) */
		uint8_t seed[crypto_sign_SEEDBYTES] = "graft fuzz key seed, not secret";
		uint8_t h[32];

		if (sodium_init() < 0)
			abort();
		crypto_sign_seed_keypair(key.pk, key.sk, seed);
		crypto_generichash(h, sizeof(h), key.pk, sizeof(key.pk), NULL, 0);
		memcpy(key.key_id, h, sizeof(key.key_id));
		ready = true;
	}
	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		struct graft_sig_key k;

		(void)graft_sig_key_parse((const char *)data + 1, size - 1, "fuzz", &k, &err);
		return 0;
	}
	data++, size--;
	if (graft_sig_inspect(data, size, &st, &err) == 0 && st.is_signed &&
	    graft_sig_verify_with(data, size, &key, &err) == 0) {
		struct graft_patch *p = NULL;
		uint8_t *copy = malloc(st.payload_len ? st.payload_len : 1);

		if (!copy)
			return 0;
		memcpy(copy, data, st.payload_len);
		if (graft_patch_parse(copy, st.payload_len, "fuzz", &p, &err) == 0)
			graft_patch_free(p);
		else
			free(copy);
	}
	return 0;
}
