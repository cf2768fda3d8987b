/* config_value — the option values that are more than a word, checked
 * and turned into settings for config_parse: bounded numbers, address
 * range lists, host patterns, the parent proxy (from its option or the
 * environment), client certificates, the web UI's address and token. The
 * option table, the help text and the order of things stay in config.c.
 * Messages that need more than a reason string go to the err stream. */
#ifndef TLSPEEK_CONFIG_VALUE_H
#define TLSPEEK_CONFIG_VALUE_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "authority.h"
#include "config.h"

/* A whole number in [min, max] (max >= 0), or -1 when text is anything
 * else. Any number of digits: the bound, not the length, decides. */
long config_value_number(const char *text, long min, long max);

/* --allow-remote CIDR[,CIDR...]: appended to out->allow. 0, or -1 with a
 * static *reason. */
int config_value_allow_list(const char *text, config *out, const char **reason);

/* Compile a --*-hosts style pattern into *re: POSIX extended,
 * case-insensitive. 0, or -1 with the reason in why (re not to be freed). */
int config_value_host_pattern(regex_t *re, const char *text, char *why,
                              size_t why_size);

/* --upstream-proxy url (NULL: not given), or else with from_env the first
 * of HTTPS_PROXY, https_proxy, ALL_PROXY, all_proxy that is set: fills
 * out's parent. 0 (also when there is none), or -1 after printing why to
 * err; the URL is never echoed, since it may hold a password. */
int config_value_upstream_proxy(config *out, const char *url, bool from_env, FILE *err);

/* --client-cert [HOST_REGEX=]FILE: loaded and checked now (a bad file
 * stops the start with its reason) and added to out->client_certs. 0, or
 * -1 after printing why to err. */
int config_value_client_cert(config *out, const char *arg, FILE *err);

/* --ui [ADDR:]PORT into *out: a bare port means 127.0.0.1; port 0 lets the
 * kernel pick. 0, or -1 with a static *reason. */
int config_value_ui_address(const char *text, authority *out, const char **reason);

/* Is t fit for --ui-token: 8 to 128 characters that go into a URL, a
 * header and a cookie unchanged? */
bool config_value_ui_token_ok(const char *t);

#endif
