/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writes the fuzz-sig fixed key as a graft secret key file (for
 * make-seeds.sh): the seed is in fuzz-sig.c, and is not a secret.
 * usage: sig-seed-key OUT.key
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	uint8_t seed[crypto_sign_SEEDBYTES] = "graft fuzz key seed, not secret";
	uint8_t pk[32], sk[64], h[32];
	char b64[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)], id[17];
	FILE *f;

	if (argc != 2 || sodium_init() < 0 || !(f = fopen(argv[1], "w")))
		return 1;
	crypto_sign_seed_keypair(pk, sk, seed);
	crypto_generichash(h, sizeof(h), pk, sizeof(pk), NULL, 0);
	sodium_bin2hex(id, sizeof(id), h, 8);
	sodium_bin2base64(b64, sizeof(b64), sk, sizeof(sk), sodium_base64_VARIANT_ORIGINAL);
	fprintf(f, "graft ed25519 secret key\nkey-id %s\nsecret %s\ncomment fuzz\n", id, b64);
	return fclose(f) != 0;
}
