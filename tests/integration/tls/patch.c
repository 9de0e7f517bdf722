/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tls_a through the initial-exec model (R_X86_64_GOTTPOFF), tls_b through
 * local-exec (R_X86_64_TPOFF32). */
extern __thread int tls_a __attribute__((tls_model("initial-exec")));
extern __thread int tls_b __attribute__((tls_model("local-exec")));

int tls_step_v2(void)
{
	tls_a += 10;
	tls_b += 20;
	return tls_a * 1000 + tls_b;
}
