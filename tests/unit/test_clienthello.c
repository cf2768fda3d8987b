/* Unit tests for clienthello: real ClientHellos captured from openssl
 * s_client and curl (tests/fuzz/capture_clienthello.py), each replayed
 * split at every offset and fragmented across records; lying length
 * fields; synthetic hellos for SNI, ALPN and supported_versions edge
 * cases; inputs that are not TLS at all. */
#include "check_main.h"
#include "clienthello.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* openssl_sni_alpn (330 bytes): openssl s_client -connect 127.0.0.1:PORT -servername x.test -alpn h2,http/1.1 */
static const uint8_t hello_openssl_sni_alpn[] = {
    /* record: handshake, version, length */
    0x16, 0x03, 0x01, 0x01, 0x45,
    /* handshake: client_hello, length */
    0x01, 0x00, 0x01, 0x41,
    /* legacy_version */
    0x03, 0x03,
    /* random */
    0xc1, 0x5c, 0x82, 0x7a, 0x5d, 0x82, 0xf4, 0x3f, 0xd1, 0xc9, 0xb0, 0x21,
    0x58, 0xee, 0x19, 0xe3, 0xc6, 0xcd, 0x82, 0x51, 0xb3, 0xfb, 0xb6, 0xa2,
    0x32, 0x2f, 0x61, 0x8e, 0xa5, 0x4c, 0xaf, 0xbf,
    /* legacy_session_id length */
    0x20,
    /* legacy_session_id */
    0xcd, 0x04, 0xcf, 0xa3, 0xd7, 0x07, 0xb3, 0x9d, 0xbb, 0x27, 0x1d, 0x86,
    0xde, 0x0f, 0xd1, 0x42, 0x1e, 0x8f, 0x5a, 0xcb, 0xe0, 0xee, 0x72, 0xb9,
    0xb3, 0xe1, 0xe1, 0xe4, 0xed, 0x29, 0x37, 0xcf,
    /* cipher_suites length */
    0x00, 0x3e,
    /* cipher_suites */
    0x13, 0x02, 0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f,
    0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e,
    0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67,
    0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33,
    0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f,
    0x00, 0xff,
    /* compression_methods length */
    0x01,
    /* compression_methods */
    0x00,
    /* extensions length */
    0x00, 0xba,
    /* extension server_name: type, length 11 */
    0x00, 0x00, 0x00, 0x0b,
    /* server_name_list length */
    0x00, 0x09,
    /* name_type host_name */
    0x00,
    /* host_name length */
    0x00, 0x06,
    /* host_name 'x.test' */
    0x78, 0x2e, 0x74, 0x65, 0x73, 0x74,
    /* extension ec_point_formats: type, length 4 */
    0x00, 0x0b, 0x00, 0x04,
    /* ec_point_formats data */
    0x03, 0x00, 0x01, 0x02,
    /* extension supported_groups: type, length 22 */
    0x00, 0x0a, 0x00, 0x16,
    /* supported_groups data */
    0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
    0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04,
    /* extension session_ticket: type, length 0 */
    0x00, 0x23, 0x00, 0x00,
    /* extension ALPN: type, length 14 */
    0x00, 0x10, 0x00, 0x0e,
    /* protocol_name_list length */
    0x00, 0x0c,
    /* protocol name length */
    0x02,
    /* 'h2' */
    0x68, 0x32,
    /* protocol name length */
    0x08,
    /* 'http/1.1' */
    0x68, 0x74, 0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31,
    /* extension encrypt_then_mac: type, length 0 */
    0x00, 0x16, 0x00, 0x00,
    /* extension extended_master_secret: type, length 0 */
    0x00, 0x17, 0x00, 0x00,
    /* extension signature_algorithms: type, length 42 */
    0x00, 0x0d, 0x00, 0x2a,
    /* signature_algorithms data */
    0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08,
    0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06,
    0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02,
    0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
    /* extension supported_versions: type, length 9 */
    0x00, 0x2b, 0x00, 0x09,
    /* versions length */
    0x08,
    /* versions */
    0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01,
    /* extension psk_key_exchange_modes: type, length 2 */
    0x00, 0x2d, 0x00, 0x02,
    /* psk_key_exchange_modes data */
    0x01, 0x01,
    /* extension key_share: type, length 38 */
    0x00, 0x33, 0x00, 0x26,
    /* key_share data */
    0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0xe6, 0x68, 0x7d, 0x92, 0xf9, 0x93,
    0x44, 0xea, 0x13, 0x43, 0x85, 0xe2, 0x07, 0x97, 0x21, 0x8f, 0x34, 0xae,
    0x48, 0x85, 0x3b, 0x9f, 0x96, 0x22, 0x9e, 0x84, 0x96, 0x6e, 0xfe, 0x3f,
    0xab, 0x4a,
};

/* openssl_tls12_nosni (188 bytes): openssl s_client -connect 127.0.0.1:PORT -noservername -tls1_2 */
static const uint8_t hello_openssl_tls12_nosni[] = {
    /* record: handshake, version, length */
    0x16, 0x03, 0x01, 0x00, 0xb7,
    /* handshake: client_hello, length */
    0x01, 0x00, 0x00, 0xb3,
    /* legacy_version */
    0x03, 0x03,
    /* random */
    0x0a, 0xc4, 0x32, 0x12, 0x9c, 0x20, 0xbd, 0xce, 0x3f, 0x1f, 0x38, 0x91,
    0xbf, 0x30, 0x40, 0x5b, 0xfd, 0xcc, 0x5c, 0x83, 0x55, 0x23, 0x43, 0xb7,
    0x11, 0x3c, 0x82, 0xf3, 0xbd, 0xfd, 0x7b, 0x4b,
    /* legacy_session_id length */
    0x00,
    /* legacy_session_id */
    /* cipher_suites length */
    0x00, 0x38,
    /* cipher_suites */
    0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
    0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
    0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
    0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff,
    /* compression_methods length */
    0x01,
    /* compression_methods */
    0x00,
    /* extensions length */
    0x00, 0x52,
    /* extension ec_point_formats: type, length 4 */
    0x00, 0x0b, 0x00, 0x04,
    /* ec_point_formats data */
    0x03, 0x00, 0x01, 0x02,
    /* extension supported_groups: type, length 12 */
    0x00, 0x0a, 0x00, 0x0c,
    /* supported_groups data */
    0x00, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
    /* extension session_ticket: type, length 0 */
    0x00, 0x23, 0x00, 0x00,
    /* extension encrypt_then_mac: type, length 0 */
    0x00, 0x16, 0x00, 0x00,
    /* extension extended_master_secret: type, length 0 */
    0x00, 0x17, 0x00, 0x00,
    /* extension signature_algorithms: type, length 42 */
    0x00, 0x0d, 0x00, 0x2a,
    /* signature_algorithms data */
    0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08,
    0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06,
    0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02,
    0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
};

/* curl (517 bytes): curl -sk --max-time 3 --resolve www.example.test:PORT:127.0.0.1 https://www.example.test:PORT/ */
static const uint8_t hello_curl[] = {
    /* record: handshake, version, length */
    0x16, 0x03, 0x01, 0x02, 0x00,
    /* handshake: client_hello, length */
    0x01, 0x00, 0x01, 0xfc,
    /* legacy_version */
    0x03, 0x03,
    /* random */
    0x25, 0x96, 0x0a, 0xae, 0x09, 0xb6, 0xdf, 0x39, 0x4d, 0x7d, 0x31, 0x6e,
    0x68, 0xd0, 0xec, 0x42, 0x6f, 0xbc, 0xeb, 0xca, 0x89, 0xc8, 0x87, 0xf9,
    0x50, 0xe2, 0x67, 0xa6, 0x02, 0xe8, 0x49, 0xdc,
    /* legacy_session_id length */
    0x20,
    /* legacy_session_id */
    0x15, 0xfe, 0x70, 0x38, 0x04, 0xc9, 0x97, 0x4a, 0x47, 0x93, 0xef, 0x12,
    0xb1, 0xd6, 0x44, 0xc0, 0x4e, 0xe6, 0x50, 0x0b, 0x70, 0xe2, 0x09, 0xd6,
    0x9a, 0x86, 0x8b, 0x4f, 0xda, 0xb2, 0x56, 0xf4,
    /* cipher_suites length */
    0x00, 0x3e,
    /* cipher_suites */
    0x13, 0x02, 0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f,
    0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e,
    0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67,
    0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33,
    0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f,
    0x00, 0xff,
    /* compression_methods length */
    0x01,
    /* compression_methods */
    0x00,
    /* extensions length */
    0x01, 0x75,
    /* extension server_name: type, length 21 */
    0x00, 0x00, 0x00, 0x15,
    /* server_name_list length */
    0x00, 0x13,
    /* name_type host_name */
    0x00,
    /* host_name length */
    0x00, 0x10,
    /* host_name 'www.example.test' */
    0x77, 0x77, 0x77, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e,
    0x74, 0x65, 0x73, 0x74,
    /* extension ec_point_formats: type, length 4 */
    0x00, 0x0b, 0x00, 0x04,
    /* ec_point_formats data */
    0x03, 0x00, 0x01, 0x02,
    /* extension supported_groups: type, length 22 */
    0x00, 0x0a, 0x00, 0x16,
    /* supported_groups data */
    0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
    0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04,
    /* extension ALPN: type, length 14 */
    0x00, 0x10, 0x00, 0x0e,
    /* protocol_name_list length */
    0x00, 0x0c,
    /* protocol name length */
    0x02,
    /* 'h2' */
    0x68, 0x32,
    /* protocol name length */
    0x08,
    /* 'http/1.1' */
    0x68, 0x74, 0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31,
    /* extension encrypt_then_mac: type, length 0 */
    0x00, 0x16, 0x00, 0x00,
    /* extension extended_master_secret: type, length 0 */
    0x00, 0x17, 0x00, 0x00,
    /* extension post_handshake_auth: type, length 0 */
    0x00, 0x31, 0x00, 0x00,
    /* extension signature_algorithms: type, length 42 */
    0x00, 0x0d, 0x00, 0x2a,
    /* signature_algorithms data */
    0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08,
    0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06,
    0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02,
    0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
    /* extension supported_versions: type, length 9 */
    0x00, 0x2b, 0x00, 0x09,
    /* versions length */
    0x08,
    /* versions */
    0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01,
    /* extension psk_key_exchange_modes: type, length 2 */
    0x00, 0x2d, 0x00, 0x02,
    /* psk_key_exchange_modes data */
    0x01, 0x01,
    /* extension key_share: type, length 38 */
    0x00, 0x33, 0x00, 0x26,
    /* key_share data */
    0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x3e, 0xbf, 0x68, 0x3f, 0x8f, 0x26,
    0xc9, 0x0b, 0x2a, 0x1d, 0x6f, 0x17, 0x5c, 0x11, 0xb5, 0x4b, 0x3e, 0xf9,
    0x8d, 0x1b, 0xc9, 0xf0, 0x3a, 0xde, 0xe7, 0x3d, 0x87, 0xa9, 0xf2, 0x07,
    0x7a, 0x6f,
    /* extension padding: type, length 173 */
    0x00, 0x15, 0x00, 0xad,
    /* padding data */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00,
};

/* curl_http11 (517 bytes): curl -sk --http1.1 --max-time 3 --resolve api.example.test:PORT:127.0.0.1 https://api.example.test:PORT/ */
static const uint8_t hello_curl_http11[] = {
    /* record: handshake, version, length */
    0x16, 0x03, 0x01, 0x02, 0x00,
    /* handshake: client_hello, length */
    0x01, 0x00, 0x01, 0xfc,
    /* legacy_version */
    0x03, 0x03,
    /* random */
    0xf7, 0x7e, 0xb0, 0x73, 0x5a, 0x1a, 0x7b, 0x14, 0x9f, 0xbd, 0x1b, 0x15,
    0x83, 0xe3, 0x7c, 0xf4, 0x8e, 0xf4, 0xeb, 0x6c, 0xd2, 0xe8, 0x4e, 0x6c,
    0x40, 0x3e, 0x86, 0xbd, 0x8c, 0xfc, 0x25, 0x1d,
    /* legacy_session_id length */
    0x20,
    /* legacy_session_id */
    0xd2, 0xc1, 0xd9, 0xed, 0xd3, 0x9d, 0x0b, 0x8d, 0x58, 0xf3, 0xee, 0x25,
    0x3c, 0xc6, 0x5f, 0xe9, 0x69, 0xab, 0x28, 0xaf, 0xa1, 0xd7, 0x4f, 0x85,
    0x82, 0xcd, 0xe7, 0x5e, 0x48, 0x84, 0xa8, 0x5e,
    /* cipher_suites length */
    0x00, 0x3e,
    /* cipher_suites */
    0x13, 0x02, 0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f,
    0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e,
    0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67,
    0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33,
    0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f,
    0x00, 0xff,
    /* compression_methods length */
    0x01,
    /* compression_methods */
    0x00,
    /* extensions length */
    0x01, 0x75,
    /* extension server_name: type, length 21 */
    0x00, 0x00, 0x00, 0x15,
    /* server_name_list length */
    0x00, 0x13,
    /* name_type host_name */
    0x00,
    /* host_name length */
    0x00, 0x10,
    /* host_name 'api.example.test' */
    0x61, 0x70, 0x69, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e,
    0x74, 0x65, 0x73, 0x74,
    /* extension ec_point_formats: type, length 4 */
    0x00, 0x0b, 0x00, 0x04,
    /* ec_point_formats data */
    0x03, 0x00, 0x01, 0x02,
    /* extension supported_groups: type, length 22 */
    0x00, 0x0a, 0x00, 0x16,
    /* supported_groups data */
    0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
    0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04,
    /* extension ALPN: type, length 11 */
    0x00, 0x10, 0x00, 0x0b,
    /* protocol_name_list length */
    0x00, 0x09,
    /* protocol name length */
    0x08,
    /* 'http/1.1' */
    0x68, 0x74, 0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31,
    /* extension encrypt_then_mac: type, length 0 */
    0x00, 0x16, 0x00, 0x00,
    /* extension extended_master_secret: type, length 0 */
    0x00, 0x17, 0x00, 0x00,
    /* extension post_handshake_auth: type, length 0 */
    0x00, 0x31, 0x00, 0x00,
    /* extension signature_algorithms: type, length 42 */
    0x00, 0x0d, 0x00, 0x2a,
    /* signature_algorithms data */
    0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08,
    0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06,
    0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02,
    0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
    /* extension supported_versions: type, length 9 */
    0x00, 0x2b, 0x00, 0x09,
    /* versions length */
    0x08,
    /* versions */
    0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01,
    /* extension psk_key_exchange_modes: type, length 2 */
    0x00, 0x2d, 0x00, 0x02,
    /* psk_key_exchange_modes data */
    0x01, 0x01,
    /* extension key_share: type, length 38 */
    0x00, 0x33, 0x00, 0x26,
    /* key_share data */
    0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0xc6, 0x5b, 0x2f, 0xfc, 0x86, 0x81,
    0x39, 0x76, 0xd9, 0x6a, 0x08, 0xac, 0xad, 0x94, 0x41, 0x4d, 0x70, 0x8b,
    0xff, 0xd8, 0xf6, 0xf0, 0xa3, 0x17, 0x8d, 0xed, 0xf8, 0x7a, 0x12, 0xb8,
    0xad, 0x71,
    /* extension padding: type, length 176 */
    0x00, 0x15, 0x00, 0xb0,
    /* padding data */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};


/* What each capture must yield. */
typedef struct {
    const char *name;
    const uint8_t *data;
    size_t len;
    const char *sni;     /* NULL: no server_name extension */
    const char *alpn[3]; /* NULL-terminated */
    bool tls13;
} capture;

#define CAPTURE(arr) #arr, arr, sizeof arr

static const capture captures[] = {
    { CAPTURE(hello_openssl_sni_alpn), "x.test", { "h2", "http/1.1", NULL }, true },
    { CAPTURE(hello_openssl_tls12_nosni), NULL, { NULL }, false },
    { CAPTURE(hello_curl), "www.example.test", { "h2", "http/1.1", NULL }, true },
    { CAPTURE(hello_curl_http11), "api.example.test", { "http/1.1", NULL }, true },
};
#define N_CAPTURES (sizeof captures / sizeof captures[0])

/* ---- a growable byte string with length prefixes filled in later ---- */

typedef struct {
    uint8_t *b;
    size_t n, cap;
} bytes;

static void put(bytes *x, const void *p, size_t n)
{
    if (x->n + n > x->cap) {
        x->cap = (x->n + n) * 2 + 64;
        x->b = realloc(x->b, x->cap);
        ck_assert_ptr_nonnull(x->b);
    }
    if (n)
        memcpy(x->b + x->n, p, n);
    x->n += n;
}

static void put8(bytes *x, unsigned v)
{
    uint8_t c = (uint8_t)v;
    put(x, &c, 1);
}

static void put16(bytes *x, unsigned v)
{
    put8(x, v >> 8);
    put8(x, v);
}

static void fill(bytes *x, unsigned v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put8(x, v);
}

/* Reserve a length field of width bytes; fix() writes what followed it. */
static size_t mark(bytes *x, int width)
{
    size_t at = x->n;
    fill(x, 0, (size_t)width);
    return at;
}

static void fix(bytes *x, size_t at, int width)
{
    size_t v = x->n - at - (size_t)width;
    for (int i = width - 1; i >= 0; i--, v >>= 8)
        x->b[at + (size_t)i] = (uint8_t)v;
}

static void bytes_free(bytes *x)
{
    free(x->b);
    memset(x, 0, sizeof *x);
}

/* ---- synthetic hellos ---- */

typedef struct {
    unsigned version;
    size_t sid_len, cs_len, comp_len;
    const bytes *exts; /* NULL: no extensions block at all */
    size_t extra;      /* zero bytes after the extensions block */
} hello_spec;

/* One record holding a ClientHello made to spec (the record length is
 * whatever the message needs, even past 2^14). */
static bytes hello_make(const hello_spec *s)
{
    bytes h = { 0 };
    put8(&h, 0x16);
    put16(&h, 0x0301);
    size_t rl = mark(&h, 2);
    put8(&h, 1);
    size_t hl = mark(&h, 3);
    put16(&h, s->version);
    for (unsigned i = 0; i < 32; i++)
        put8(&h, i);
    put8(&h, (unsigned)s->sid_len);
    fill(&h, 0xaa, s->sid_len);
    put16(&h, (unsigned)s->cs_len);
    for (size_t i = 0; i < s->cs_len; i++)
        put8(&h, i % 2 ? 0x01 : 0x13);
    put8(&h, (unsigned)s->comp_len);
    fill(&h, 0, s->comp_len);
    if (s->exts) {
        size_t el = mark(&h, 2);
        put(&h, s->exts->b, s->exts->n);
        fix(&h, el, 2);
    }
    fill(&h, 0, s->extra);
    fix(&h, hl, 3);
    fix(&h, rl, 2);
    return h;
}

static bytes hello_with(const bytes *exts)
{
    hello_spec s = { 0x0303, 0, 4, 1, exts, 0 };
    return hello_make(&s);
}

static void ext_raw(bytes *e, unsigned type, const void *body, size_t n)
{
    put16(e, type);
    put16(e, (unsigned)n);
    put(e, body, n);
}

/* server_name with one entry of the given type. */
static void ext_sni_typed(bytes *e, unsigned type, const char *name, size_t len)
{
    put16(e, 0);
    size_t x = mark(e, 2);
    size_t l = mark(e, 2);
    put8(e, type);
    put16(e, (unsigned)len);
    put(e, name, len);
    fix(e, l, 2);
    fix(e, x, 2);
}

static void ext_sni(bytes *e, const char *name, size_t len)
{
    ext_sni_typed(e, 0, name, len);
}

/* ALPN from a NULL-terminated list of names. */
static void ext_alpn(bytes *e, const char *const *names)
{
    put16(e, 16);
    size_t x = mark(e, 2);
    size_t l = mark(e, 2);
    for (; *names; names++) {
        put8(e, (unsigned)strlen(*names));
        put(e, *names, strlen(*names));
    }
    fix(e, l, 2);
    fix(e, x, 2);
}

static void ext_versions(bytes *e, const unsigned *v, size_t n)
{
    put16(e, 43);
    put16(e, (unsigned)(1 + 2 * n));
    put8(e, (unsigned)(2 * n));
    for (size_t i = 0; i < n; i++)
        put16(e, v[i]);
}

/* The handshake message of a one-record hello, cut into records of the
 * sizes in cuts (cycled; 0 stands for "the rest"). */
static bytes refragment(const uint8_t *rec, size_t len, const size_t *cuts,
                        size_t n_cuts)
{
    bytes b = { 0 };
    const uint8_t *msg = rec + 5;
    size_t n = len - 5, off = 0;
    for (size_t i = 0; off < n; i++) {
        size_t c = cuts[i % n_cuts];
        if (c == 0 || c > n - off)
            c = n - off;
        put8(&b, 0x16);
        put8(&b, rec[1]);
        put8(&b, rec[2]);
        put16(&b, (unsigned)c);
        put(&b, msg + off, c);
        off += c;
    }
    return b;
}

/* ---- checking results ---- */

static clienthello_status parse_bytes(const bytes *b, clienthello_info *out)
{
    return clienthello_parse(b->b, b->n, out);
}

static void same_info(const clienthello_info *a, const clienthello_info *b,
                      bool same_records)
{
    if (same_records) {
        ck_assert_uint_eq(a->wire_bytes, b->wire_bytes);
        ck_assert_uint_eq(a->n_records, b->n_records);
    }
    ck_assert_uint_eq(a->legacy_version, b->legacy_version);
    ck_assert_uint_eq(a->max_version, b->max_version);
    ck_assert_int_eq(a->offers_tls13, b->offers_tls13);
    ck_assert_int_eq(a->sni_kind, b->sni_kind);
    ck_assert_str_eq(a->sni, b->sni);
    ck_assert_int_eq(a->has_alpn, b->has_alpn);
    ck_assert_uint_eq(a->n_alpn, b->n_alpn);
    ck_assert_int_eq(a->alpn_truncated, b->alpn_truncated);
    for (size_t i = 0; i < a->n_alpn; i++) {
        ck_assert_uint_eq(a->alpn[i].len, b->alpn[i].len);
        ck_assert_mem_eq(a->alpn[i].name, b->alpn[i].name, a->alpn[i].len + 1);
    }
    ck_assert_ptr_null(a->error);
    ck_assert_ptr_null(b->error);
}

/* Every proper prefix of data is INCOMPLETE, the whole is OK into *full,
 * and bytes after the hello (the next record, or garbage) change nothing. */
static void check_split(const uint8_t *data, size_t len, clienthello_info *full)
{
    clienthello_info info;
    for (size_t k = 0; k < len; k++) {
        clienthello_status s = clienthello_parse(data, k, &info);
        ck_assert_msg(s == CLIENTHELLO_INCOMPLETE, "prefix %zu of %zu: %s (%s)",
                      k, len, clienthello_status_str(s),
                      info.error ? info.error : "");
        ck_assert_ptr_null(info.error);
        ck_assert_uint_eq(info.wire_bytes, 0);
    }
    clienthello_status s = clienthello_parse(data, len, full);
    ck_assert_msg(s == CLIENTHELLO_OK, "whole (%zu): %s (%s)", len,
                  clienthello_status_str(s), full->error ? full->error : "");
    ck_assert_uint_eq(full->wire_bytes, len);

    static const uint8_t after[][6] = {
        { 0x17, 0x03, 0x03, 0x00, 0x01, 0xaa }, /* early data */
        { 0x16, 0x03, 0x03, 0xff, 0xff, 0x00 }, /* a bad next record */
        { 'G', 'E', 'T', ' ', '/', ' ' },
    };
    for (size_t i = 0; i < sizeof after / sizeof after[0]; i++) {
        bytes more = { 0 };
        put(&more, data, len);
        put(&more, after[i], sizeof after[i]);
        for (size_t extra = 1; extra <= sizeof after[i]; extra++) {
            ck_assert_int_eq(clienthello_parse(more.b, len + extra, &info),
                             CLIENTHELLO_OK);
            same_info(full, &info, true);
        }
        bytes_free(&more);
    }
}

static void check_capture(const capture *c, const clienthello_info *info)
{
    ck_assert_uint_eq(info->legacy_version, 0x0303);
    ck_assert_int_eq(info->offers_tls13, c->tls13);
    ck_assert_uint_eq(info->max_version, c->tls13 ? 0x0304 : 0x0303);
    if (c->sni) {
        ck_assert_int_eq(info->sni_kind, CLIENTHELLO_SNI_NAME);
        ck_assert_str_eq(info->sni, c->sni);
    } else {
        ck_assert_int_eq(info->sni_kind, CLIENTHELLO_SNI_NONE);
        ck_assert_str_eq(info->sni, "");
    }
    size_t n = 0;
    while (c->alpn[n])
        n++;
    ck_assert_int_eq(info->has_alpn, n > 0);
    ck_assert_uint_eq(info->n_alpn, n);
    ck_assert(!info->alpn_truncated);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(info->alpn[i].len, strlen(c->alpn[i]));
        ck_assert_str_eq(info->alpn[i].name, c->alpn[i]);
    }
}

/* ---- real hellos ---- */

START_TEST(captures_split_everywhere)
{
    const capture *c = &captures[_i];
    clienthello_info info;
    check_split(c->data, c->len, &info);
    check_capture(c, &info);
    ck_assert_uint_eq(info.n_records, 1);
}
END_TEST

START_TEST(captures_fragmented)
{
    static const size_t cuts[][3] = {
        { 1, 1, 1 }, { 2, 2, 2 }, { 3, 3, 3 }, { 1, 5, 0 }, { 7, 7, 7 },
        { 4, 0, 0 }, { 100, 100, 100 }, { 255, 1, 0 },
    };
    const capture *c = &captures[_i];
    clienthello_info whole, info;
    ck_assert_int_eq(clienthello_parse(c->data, c->len, &whole), CLIENTHELLO_OK);
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        bytes b = refragment(c->data, c->len, cuts[k], 3);
        check_split(b.b, b.n, &info);
        same_info(&whole, &info, false);
        if (cuts[k][0] >= c->len - 5) { /* all in one record after all */
            ck_assert_uint_eq(info.n_records, 1);
            bytes_free(&b);
            continue;
        }
        ck_assert_uint_gt(info.n_records, 1);

        /* any other record type among the fragments: malformed */
        size_t second = 5 + (size_t)b.b[3] * 256 + b.b[4];
        static const uint8_t bad[] = { 0x14, 0x15, 0x17, 0x00, 0x80 };
        for (size_t j = 0; j < sizeof bad; j++) {
            uint8_t keep = b.b[second];
            b.b[second] = bad[j];
            ck_assert_int_eq(parse_bytes(&b, &info), CLIENTHELLO_MALFORMED);
            ck_assert_str_eq(info.error, "another record type inside the ClientHello");
            b.b[second] = keep;
        }
        /* a later record with a version that is not 3.x */
        b.b[second + 1] = 0x02;
        ck_assert_int_eq(parse_bytes(&b, &info), CLIENTHELLO_MALFORMED);
        bytes_free(&b);
    }
}
END_TEST

START_TEST(empty_record_between_fragments)
{
    const capture *c = &captures[0];
    static const size_t cut[] = { 50, 0 };
    bytes b = refragment(c->data, c->len, cut, 2);
    bytes z = { 0 };
    put(&z, b.b, 55);
    put(&z, "\x16\x03\x01\x00\x00", 5);
    put(&z, b.b + 55, b.n - 55);
    clienthello_info info;
    ck_assert_int_eq(parse_bytes(&z, &info), CLIENTHELLO_MALFORMED);
    ck_assert_str_eq(info.error, "empty handshake record");
    bytes_free(&z);
    bytes_free(&b);
}
END_TEST

/* Offsets of every length field of a one-record hello. */
typedef struct {
    size_t off;
    int width;
    const char *what;
} field;

static unsigned rd16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static size_t length_fields(const uint8_t *h, size_t len, field *f, size_t max)
{
    size_t n = 0, p;
#define FIELD(o, w, s) do { ck_assert_uint_lt(n, max); f[n++] = (field){ (o), (w), (s) }; } while (0)
    FIELD(3, 2, "record");
    FIELD(6, 3, "handshake");
    p = 9 + 2 + 32;
    FIELD(p, 1, "session id");
    p += 1 + h[p];
    FIELD(p, 2, "cipher suites");
    p += 2 + rd16(h + p);
    FIELD(p, 1, "compression methods");
    p += 1 + h[p];
    if (p == len)
        return n;
    FIELD(p, 2, "extensions");
    p += 2;
    while (p < len) {
        unsigned type = rd16(h + p);
        size_t body = p + 4, el = rd16(h + p + 2);
        FIELD(p + 2, 2, "an extension");
        if (type == 0) {
            FIELD(body, 2, "server_name list");
            FIELD(body + 3, 2, "host_name");
        } else if (type == 16) {
            FIELD(body, 2, "ALPN list");
            for (size_t q = body + 2; q < body + el; q += 1u + h[q])
                FIELD(q, 1, "ALPN name");
        } else if (type == 43) {
            FIELD(body, 1, "supported_versions list");
        }
        p = body + el;
    }
#undef FIELD
    ck_assert_uint_eq(p, len);
    return n;
}

START_TEST(lying_lengths)
{
    const capture *c = &captures[_i];
    field fields[64];
    size_t n = length_fields(c->data, c->len, fields, 64);
    ck_assert_uint_ge(n, 12);
    uint8_t *m = malloc(c->len);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < n; i++) {
        for (int delta = -1; delta <= 1; delta += 2) {
            const field *f = &fields[i];
            memcpy(m, c->data, c->len);
            unsigned long v = 0;
            for (int k = 0; k < f->width; k++)
                v = v << 8 | m[f->off + (size_t)k];
            v += (unsigned long)(long)delta;
            for (int k = f->width - 1; k >= 0; k--, v >>= 8)
                m[f->off + (size_t)k] = (uint8_t)v;
            clienthello_info info;
            clienthello_status s = clienthello_parse(m, c->len, &info);
            /* The outer lengths may make the parser wait for bytes that
             * never come; every inner one must be caught. */
            if (i < 2)
                ck_assert_msg(s != CLIENTHELLO_OK, "%s length %+d: ok", f->what, delta);
            else
                ck_assert_msg(s == CLIENTHELLO_MALFORMED, "%s length at %zu %+d: %s",
                              f->what, f->off, delta, clienthello_status_str(s));
            if (s != CLIENTHELLO_INCOMPLETE)
                ck_assert_ptr_nonnull(info.error);
        }
    }
    free(m);
}
END_TEST

START_TEST(truncated_message)
{
    /* A record that ends the stream with a hello cut short inside it. */
    const capture *c = &captures[0];
    for (size_t cut = 1; cut < c->len - 5; cut += 17) {
        bytes b = { 0 };
        put(&b, c->data, 3);
        put16(&b, (unsigned)cut);
        put(&b, c->data + 5, cut);
        clienthello_info info;
        /* the message is unfinished: the next record is awaited */
        ck_assert_int_eq(parse_bytes(&b, &info), CLIENTHELLO_INCOMPLETE);
        /* and if what comes next is not the rest of the handshake... */
        put(&b, "\x17\x03\x03\x00\x01\x00", 6);
        ck_assert_int_eq(parse_bytes(&b, &info), CLIENTHELLO_MALFORMED);
        bytes_free(&b);
    }
}
END_TEST

START_TEST(data_after_hello_in_its_record)
{
    for (size_t i = 0; i < N_CAPTURES; i++) {
        const capture *c = &captures[i];
        bytes b = { 0 };
        put(&b, c->data, c->len);
        put8(&b, 0x01); /* the start of another handshake message */
        b.b[4]++;
        if (b.b[4] == 0)
            b.b[3]++;
        clienthello_info info;
        ck_assert_int_eq(parse_bytes(&b, &info), CLIENTHELLO_MALFORMED);
        ck_assert_str_eq(info.error, "data after the ClientHello in its record");
        /* known from the record header alone */
        ck_assert_int_eq(clienthello_parse(b.b, 9, &info), CLIENTHELLO_MALFORMED);
        bytes_free(&b);

        /* the same in the last of several records */
        static const size_t cut[] = { 60 };
        b = refragment(c->data, c->len, cut, 1);
        size_t last = 0;
        while (last + 5 + rd16(b.b + last + 3) < b.n)
            last += 5 + rd16(b.b + last + 3);
        put8(&b, 0x00);
        unsigned rl = rd16(b.b + last + 3) + 1;
        b.b[last + 3] = (uint8_t)(rl >> 8);
        b.b[last + 4] = (uint8_t)rl;
        ck_assert_int_eq(parse_bytes(&b, &info), CLIENTHELLO_MALFORMED);
        bytes_free(&b);
    }
}
END_TEST

/* ---- not TLS, and the record layer ---- */

static void expect_status(const void *data, size_t len, clienthello_status want,
                          const char *why)
{
    clienthello_info info;
    clienthello_status s = clienthello_parse(data, len, &info);
    ck_assert_msg(s == want, "got %s (%s), want %s", clienthello_status_str(s),
                  info.error ? info.error : "-", clienthello_status_str(want));
    if (why)
        ck_assert_str_eq(info.error, why);
    if (want != CLIENTHELLO_OK)
        ck_assert_uint_eq(info.wire_bytes, 0);
}

#define EXPECT(lit, want, why) expect_status(lit, sizeof(lit) - 1, want, why)

START_TEST(not_tls)
{
    EXPECT("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", CLIENTHELLO_NOT_TLS,
           "not a TLS handshake record");
    EXPECT("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", CLIENTHELLO_NOT_TLS, NULL);
    EXPECT("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", CLIENTHELLO_NOT_TLS, NULL);
    /* an SSLv2-compatible hello */
    EXPECT("\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10", CLIENTHELLO_NOT_TLS, NULL);
    /* decided from the first byte */
    EXPECT("G", CLIENTHELLO_NOT_TLS, NULL);
    EXPECT("\x00", CLIENTHELLO_NOT_TLS, NULL);
    EXPECT("\x17\x03\x03\x00\x01\x00", CLIENTHELLO_NOT_TLS, NULL);
    /* or the record version */
    EXPECT("\x16\x02", CLIENTHELLO_NOT_TLS, "record version is not 3.x");
    EXPECT("\x16\x04\x01\x00\x10", CLIENTHELLO_NOT_TLS, NULL);
    EXPECT("\x16\x16\x16\x16", CLIENTHELLO_NOT_TLS, NULL);
    /* not enough to say */
    expect_status(NULL, 0, CLIENTHELLO_INCOMPLETE, NULL);
    expect_status("", 0, CLIENTHELLO_INCOMPLETE, NULL);
    EXPECT("\x16", CLIENTHELLO_INCOMPLETE, NULL);
    EXPECT("\x16\x03", CLIENTHELLO_INCOMPLETE, NULL);
    EXPECT("\x16\x03\x01\x00", CLIENTHELLO_INCOMPLETE, NULL);
    EXPECT("\x16\x03\x01\x00\x40\x01\x00", CLIENTHELLO_INCOMPLETE, NULL);
    /* any 3.x record version */
    EXPECT("\x16\x03\x00\x00\x40\x01\x00", CLIENTHELLO_INCOMPLETE, NULL);
    EXPECT("\x16\x03\x09\x00\x40\x01\x00", CLIENTHELLO_INCOMPLETE, NULL);
}
END_TEST

START_TEST(record_layer)
{
    EXPECT("\x16\x03\x01\x00\x00", CLIENTHELLO_MALFORMED, "empty handshake record");
    EXPECT("\x16\x03\x01\x40\x01", CLIENTHELLO_MALFORMED, "record too long");
    EXPECT("\x16\x03\x01\xff\xff", CLIENTHELLO_MALFORMED, "record too long");
    EXPECT("\x16\x03\x01\x40\x00", CLIENTHELLO_INCOMPLETE, NULL);
    /* a ServerHello, a Finished: not a ClientHello */
    EXPECT("\x16\x03\x03\x00\x30\x02\x00\x00\x2c", CLIENTHELLO_MALFORMED,
           "handshake message is not a ClientHello");
    EXPECT("\x16\x03\x03\x00\x30\x14", CLIENTHELLO_INCOMPLETE, NULL);
    EXPECT("\x16\x03\x03\x00\x30\x14\x00\x00\x0c", CLIENTHELLO_MALFORMED, NULL);
    /* the header split over records still says so */
    EXPECT("\x16\x03\x03\x00\x01\x02\x16\x03\x03\x00\x03\x00\x00\x2c",
           CLIENTHELLO_MALFORMED, "handshake message is not a ClientHello");
    /* announced longer than the bound */
    EXPECT("\x16\x03\x01\x00\x40\x01\x00\x40\x01", CLIENTHELLO_MALFORMED,
           "ClientHello too long");
    EXPECT("\x16\x03\x01\x00\x40\x01\xff\xff\xff", CLIENTHELLO_MALFORMED,
           "ClientHello too long");
    EXPECT("\x16\x03\x01\x00\x40\x01\x00\x40\x00", CLIENTHELLO_INCOMPLETE, NULL);
    /* an empty ClientHello, and one far too short */
    EXPECT("\x16\x03\x01\x00\x04\x01\x00\x00\x00", CLIENTHELLO_MALFORMED,
           "ClientHello too short");
    EXPECT("\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03", CLIENTHELLO_MALFORMED,
           "ClientHello too short");
}
END_TEST

START_TEST(largest_hello)
{
    /* A message of exactly CLIENTHELLO_MAX_MESSAGE bytes: the fixed part of
     * hello_with() is 45 bytes of body, padding has a 4-byte header. */
    size_t pad = CLIENTHELLO_MAX_MESSAGE - 4 - 45 - 4;
    uint8_t *zeros = calloc(1, pad + 1);
    ck_assert_ptr_nonnull(zeros);
    bytes e = { 0 };
    ext_raw(&e, 21, zeros, pad);
    bytes h = hello_with(&e);
    ck_assert_uint_eq(h.n, 5 + CLIENTHELLO_MAX_MESSAGE);
    clienthello_info info;
    /* as one record it is over the record limit */
    ck_assert_int_eq(parse_bytes(&h, &info), CLIENTHELLO_MALFORMED);
    ck_assert_str_eq(info.error, "record too long");
    static const size_t cut[] = { 16384 };
    bytes b = refragment(h.b, h.n, cut, 1);
    ck_assert_int_eq(parse_bytes(&b, &info), CLIENTHELLO_OK);
    ck_assert_uint_eq(info.n_records, 2);
    ck_assert_uint_eq(info.wire_bytes, b.n);
    ck_assert_int_eq(clienthello_parse(b.b, b.n - 1, &info), CLIENTHELLO_INCOMPLETE);
    bytes_free(&b);
    bytes_free(&h);

    /* one byte more is refused as soon as the header says so */
    bytes_free(&e);
    ext_raw(&e, 21, zeros, pad + 1);
    h = hello_with(&e);
    b = refragment(h.b, h.n, cut, 1);
    ck_assert_int_eq(parse_bytes(&b, &info), CLIENTHELLO_MALFORMED);
    ck_assert_str_eq(info.error, "ClientHello too long");
    ck_assert_int_eq(clienthello_parse(b.b, 9, &info), CLIENTHELLO_MALFORMED);
    bytes_free(&b);
    bytes_free(&h);
    bytes_free(&e);
    free(zeros);
}
END_TEST

START_TEST(wire_bound)
{
    /* 1-byte records cost 6 bytes each: a 6000-byte message cannot end
     * within CLIENTHELLO_MAX_WIRE, and that is known by then. */
    uint8_t *zeros = calloc(1, 6000);
    ck_assert_ptr_nonnull(zeros);
    bytes e = { 0 };
    ext_raw(&e, 21, zeros, 6000 - 4 - 45 - 4);
    bytes h = hello_with(&e);
    static const size_t one[] = { 1 };
    bytes b = refragment(h.b, h.n, one, 1);
    ck_assert_uint_gt(b.n, CLIENTHELLO_MAX_WIRE);
    clienthello_info info;
    /* INCOMPLETE up to some point before the bound, MALFORMED from there */
    bool decided = false;
    for (size_t n = CLIENTHELLO_MAX_WIRE - 12; n <= CLIENTHELLO_MAX_WIRE + 7; n++) {
        clienthello_status s = clienthello_parse(b.b, n, &info);
        if (s == CLIENTHELLO_MALFORMED) {
            ck_assert_str_eq(info.error, "ClientHello spread over too many bytes");
            decided = true;
        } else {
            ck_assert_int_eq(s, CLIENTHELLO_INCOMPLETE);
            ck_assert(!decided);
            ck_assert_uint_lt(n, CLIENTHELLO_MAX_WIRE);
        }
    }
    ck_assert(decided);
    ck_assert_int_eq(parse_bytes(&b, &info), CLIENTHELLO_MALFORMED);
    bytes_free(&b);

    /* in 2-byte records (3.5 bytes of wire per byte) it fits */
    static const size_t two[] = { 2 };
    b = refragment(h.b, h.n, two, 1);
    ck_assert_uint_le(b.n, CLIENTHELLO_MAX_WIRE);
    ck_assert_int_eq(parse_bytes(&b, &info), CLIENTHELLO_OK);
    ck_assert_uint_eq(info.n_records, 3000);
    bytes_free(&b);
    bytes_free(&h);
    bytes_free(&e);
    free(zeros);
}
END_TEST

/* ---- the ClientHello body ---- */

static void expect_spec(const hello_spec *s, clienthello_status want, const char *why)
{
    bytes h = hello_make(s);
    expect_status(h.b, h.n, want, why);
    bytes_free(&h);
}

START_TEST(body_fields)
{
    bytes e = { 0 };
    clienthello_info info;

    /* no extensions block at all (TLS 1.2 and before), or an empty one */
    hello_spec s = { 0x0303, 0, 4, 1, NULL, 0 };
    bytes h = hello_make(&s);
    check_split(h.b, h.n, &info);
    ck_assert_uint_eq(info.legacy_version, 0x0303);
    ck_assert_uint_eq(info.max_version, 0x0303);
    ck_assert_int_eq(info.sni_kind, CLIENTHELLO_SNI_NONE);
    ck_assert(!info.has_alpn && !info.offers_tls13);
    bytes_free(&h);
    s.exts = &e;
    expect_spec(&s, CLIENTHELLO_OK, NULL);

    s.version = 0x0301;
    h = hello_make(&s);
    ck_assert_int_eq(parse_bytes(&h, &info), CLIENTHELLO_OK);
    ck_assert_uint_eq(info.legacy_version, 0x0301);
    bytes_free(&h);
    s.version = 0x0200;
    expect_spec(&s, CLIENTHELLO_MALFORMED, "ClientHello version is not 3.x");
    s.version = 0x0403;
    expect_spec(&s, CLIENTHELLO_MALFORMED, "ClientHello version is not 3.x");
    s.version = 0x0303;

    s.sid_len = 32;
    expect_spec(&s, CLIENTHELLO_OK, NULL);
    s.sid_len = 33;
    expect_spec(&s, CLIENTHELLO_MALFORMED, "bad session id length");
    s.sid_len = 0;

    s.cs_len = 0;
    expect_spec(&s, CLIENTHELLO_MALFORMED, "bad cipher suites length");
    s.cs_len = 3;
    expect_spec(&s, CLIENTHELLO_MALFORMED, "bad cipher suites length");
    s.cs_len = 2;
    expect_spec(&s, CLIENTHELLO_OK, NULL);

    s.comp_len = 0;
    expect_spec(&s, CLIENTHELLO_MALFORMED, "bad compression methods length");
    s.comp_len = 2;
    expect_spec(&s, CLIENTHELLO_OK, NULL);

    /* bytes after the extensions block; a lone byte where it would be */
    s.extra = 1;
    expect_spec(&s, CLIENTHELLO_MALFORMED, "bad extensions length");
    s.exts = NULL;
    expect_spec(&s, CLIENTHELLO_MALFORMED, "bad extensions length");
    s.extra = 2; /* read as an empty extensions block */
    expect_spec(&s, CLIENTHELLO_OK, NULL);
    s.extra = 3;
    expect_spec(&s, CLIENTHELLO_MALFORMED, "bad extensions length");
    bytes_free(&e);
}
END_TEST

START_TEST(extensions)
{
    bytes e = { 0 };
    /* unknown extensions are skipped, even twice, even empty */
    ext_raw(&e, 0xfe0d, "abc", 3);
    ext_raw(&e, 0xfe0d, "", 0);
    ext_raw(&e, 0x1a1a, "", 0);
    bytes h = hello_with(&e);
    expect_status(h.b, h.n, CLIENTHELLO_OK, NULL);
    bytes_free(&h);
    /* an extension longer than the block */
    e.b[e.n - 1] = 1;
    h = hello_with(&e);
    expect_status(h.b, h.n, CLIENTHELLO_MALFORMED, "bad extension length");
    bytes_free(&h);
    /* a block ending inside an extension header */
    e.n = 0;
    put16(&e, 5);
    put8(&e, 0);
    h = hello_with(&e);
    expect_status(h.b, h.n, CLIENTHELLO_MALFORMED, "bad extension length");
    bytes_free(&h);

    /* those that are read must not come twice */
    static const char *const alpn[] = { "h2", NULL };
    static const unsigned v13[] = { 0x0304 };
    for (int which = 0; which < 3; which++) {
        e.n = 0;
        for (int twice = 0; twice < 2; twice++) {
            if (which == 0)
                ext_sni(&e, "a.test", 6);
            else if (which == 1)
                ext_alpn(&e, alpn);
            else
                ext_versions(&e, v13, 1);
            ext_raw(&e, 23, "", 0);
        }
        h = hello_with(&e);
        static const char *const why[] = { "server_name sent twice",
                                           "ALPN sent twice",
                                           "supported_versions sent twice" };
        expect_status(h.b, h.n, CLIENTHELLO_MALFORMED, why[which]);
        bytes_free(&h);
    }
    bytes_free(&e);
}
END_TEST

/* A hello whose only extension is server_name(name), parsed. */
static clienthello_status sni_of(const char *name, size_t len, clienthello_info *info)
{
    bytes e = { 0 };
    ext_sni(&e, name, len);
    bytes h = hello_with(&e);
    clienthello_status s = parse_bytes(&h, info);
    bytes_free(&h);
    bytes_free(&e);
    return s;
}

static void sni_usable(const char *name, size_t len, const char *want)
{
    clienthello_info info;
    ck_assert_int_eq(sni_of(name, len, &info), CLIENTHELLO_OK);
    ck_assert_msg(info.sni_kind == CLIENTHELLO_SNI_NAME, "%s: not usable", want);
    ck_assert_str_eq(info.sni, want);
}

static void sni_unusable(const char *name, size_t len)
{
    clienthello_info info;
    ck_assert_int_eq(sni_of(name, len, &info), CLIENTHELLO_OK);
    ck_assert_msg(info.sni_kind == CLIENTHELLO_SNI_UNUSABLE, "%.*s: usable",
                  (int)len, name);
    ck_assert_str_eq(info.sni, "");
}

#define USABLE(lit, want) sni_usable(lit, sizeof(lit) - 1, want)
#define UNUSABLE(lit) sni_unusable(lit, sizeof(lit) - 1)

START_TEST(sni_names)
{
    USABLE("example.com", "example.com");
    USABLE("WWW.Example.COM", "www.example.com");
    USABLE("example.com.", "example.com");
    USABLE("a", "a");
    USABLE("_dmarc.x-y.test", "_dmarc.x-y.test");
    USABLE("1.2.3.4.nip.io", "1.2.3.4.nip.io");
    USABLE("0x7f.1", "0x7f.1");

    /* IP literals are not host names (RFC 6066) */
    UNUSABLE("127.0.0.1");
    UNUSABLE("127.0.0.1.");
    UNUSABLE("10");
    UNUSABLE("::1");
    UNUSABLE("[::1]");
    UNUSABLE("fe80::1%eth0");
    /* bytes no host name has */
    UNUSABLE("a\0b.test");
    UNUSABLE("evil.test\0.example.com");
    UNUSABLE("a,b.test");
    UNUSABLE("a b.test");
    UNUSABLE("*.example.com");
    UNUSABLE("user@example.com");
    UNUSABLE("example.com:443");
    UNUSABLE("example.com/x");
    UNUSABLE("example.com\r\nX: y");
    UNUSABLE("\x7f" "example.com");
    UNUSABLE("b\xc3\xbc" "cher.de");
    /* empty labels */
    UNUSABLE(".");
    UNUSABLE("..");
    UNUSABLE(".example.com");
    UNUSABLE("a..b");
    UNUSABLE("example.com..");
}
END_TEST

START_TEST(sni_lengths)
{
    char name[300];
    /* labels of 63: 63*4 + 3 dots = 255; build names of exact sizes */
    memset(name, 'a', sizeof name);
    for (size_t i = 63; i < sizeof name; i += 64)
        name[i] = '.';

    char want[300];
    memcpy(want, name, 253);
    want[253] = '\0';
    ck_assert_int_ne(name[252], '.');
    sni_usable(name, 253, want);
    /* and with its trailing dot */
    char dotted[254];
    memcpy(dotted, name, 253);
    dotted[253] = '.';
    sni_usable(dotted, 254, want);
    /* over-long */
    name[253] = 'a';
    sni_unusable(name, 254);
    sni_unusable(name, 255);
    sni_unusable(name, 299);

    /* a 63-byte label, and a 64-byte one */
    memset(name, 'b', 70);
    memcpy(name + 63, ".test", 5);
    sni_usable(name, 68, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.test");
    memset(name, 'b', 70);
    memcpy(name + 64, ".test", 5);
    sni_unusable(name, 69);

    /* a name as long as the field allows: a valid extension, unusable */
    char *big = malloc(70000);
    ck_assert_ptr_nonnull(big);
    memset(big, 'c', 70000);
    clienthello_info info;
    ck_assert_int_eq(sni_of(big, 16000, &info), CLIENTHELLO_OK);
    ck_assert_int_eq(info.sni_kind, CLIENTHELLO_SNI_UNUSABLE);
    free(big);
}
END_TEST

START_TEST(sni_structure)
{
    clienthello_info info;
    bytes e = { 0 };
    bytes h;

    /* no server_name */
    ext_raw(&e, 23, "", 0);
    h = hello_with(&e);
    ck_assert_int_eq(parse_bytes(&h, &info), CLIENTHELLO_OK);
    ck_assert_int_eq(info.sni_kind, CLIENTHELLO_SNI_NONE);
    bytes_free(&h);

    /* a name of another type only: sent, but no host name */
    e.n = 0;
    ext_sni_typed(&e, 7, "x", 1);
    h = hello_with(&e);
    ck_assert_int_eq(parse_bytes(&h, &info), CLIENTHELLO_OK);
    ck_assert_int_eq(info.sni_kind, CLIENTHELLO_SNI_UNUSABLE);
    bytes_free(&h);

    /* another type beside a host_name: the host name counts */
    e.n = 0;
    put16(&e, 0);
    size_t x = mark(&e, 2), l = mark(&e, 2);
    put8(&e, 9);
    put16(&e, 2);
    put(&e, "zz", 2);
    put8(&e, 0);
    put16(&e, 6);
    put(&e, "a.test", 6);
    fix(&e, l, 2);
    fix(&e, x, 2);
    h = hello_with(&e);
    ck_assert_int_eq(parse_bytes(&h, &info), CLIENTHELLO_OK);
    ck_assert_int_eq(info.sni_kind, CLIENTHELLO_SNI_NAME);
    ck_assert_str_eq(info.sni, "a.test");
    bytes_free(&h);

    /* two host names */
    e.n = 0;
    put16(&e, 0);
    x = mark(&e, 2);
    l = mark(&e, 2);
    for (int i = 0; i < 2; i++) {
        put8(&e, 0);
        put16(&e, 6);
        put(&e, "a.test", 6);
    }
    fix(&e, l, 2);
    fix(&e, x, 2);
    h = hello_with(&e);
    expect_status(h.b, h.n, CLIENTHELLO_MALFORMED, "server_name: two host names");
    bytes_free(&h);

    /* an empty host name, an empty list, an empty extension */
    e.n = 0;
    ext_sni(&e, "", 0);
    h = hello_with(&e);
    expect_status(h.b, h.n, CLIENTHELLO_MALFORMED, "server_name: empty name");
    bytes_free(&h);
    e.n = 0;
    ext_raw(&e, 0, "\x00\x00", 2);
    h = hello_with(&e);
    expect_status(h.b, h.n, CLIENTHELLO_MALFORMED, "server_name: empty list");
    bytes_free(&h);
    e.n = 0;
    ext_raw(&e, 0, "", 0);
    h = hello_with(&e);
    expect_status(h.b, h.n, CLIENTHELLO_MALFORMED, "server_name: bad list length");
    bytes_free(&h);
    /* an entry cut short, a byte after the list */
    e.n = 0;
    ext_raw(&e, 0, "\x00\x03\x00\x00\x05", 5);
    h = hello_with(&e);
    expect_status(h.b, h.n, CLIENTHELLO_MALFORMED, "server_name: bad name length");
    bytes_free(&h);
    e.n = 0;
    ext_raw(&e, 0, "\x00\x04\x00\x00\x01x!", 7);
    h = hello_with(&e);
    expect_status(h.b, h.n, CLIENTHELLO_MALFORMED, "server_name: bad list length");
    bytes_free(&h);
    bytes_free(&e);
}
END_TEST

static clienthello_status alpn_of(const char *const *names, clienthello_info *info)
{
    bytes e = { 0 };
    ext_alpn(&e, names);
    bytes h = hello_with(&e);
    clienthello_status s = parse_bytes(&h, info);
    bytes_free(&h);
    bytes_free(&e);
    return s;
}

START_TEST(alpn_lists)
{
    clienthello_info info;
    static const char *const nine[] = { "a", "b", "c", "d", "e", "f", "g",
                                        "h", "i", NULL };
    ck_assert_int_eq(alpn_of(nine, &info), CLIENTHELLO_OK);
    ck_assert(info.has_alpn);
    ck_assert_uint_eq(info.n_alpn, CLIENTHELLO_ALPN_MAX);
    ck_assert(info.alpn_truncated);
    ck_assert_str_eq(info.alpn[7].name, "h");

    static const char *const eight[] = { "a", "b", "c", "d", "e", "f", "g",
                                         "h", NULL };
    ck_assert_int_eq(alpn_of(eight, &info), CLIENTHELLO_OK);
    ck_assert_uint_eq(info.n_alpn, 8);
    ck_assert(!info.alpn_truncated);

    /* the longest name there is */
    char longest[256];
    memset(longest, 'p', 255);
    longest[255] = '\0';
    const char *const one[] = { "http/1.1", longest, NULL };
    ck_assert_int_eq(alpn_of(one, &info), CLIENTHELLO_OK);
    ck_assert_uint_eq(info.n_alpn, 2);
    ck_assert_uint_eq(info.alpn[1].len, 255);
    ck_assert_str_eq(info.alpn[1].name, longest);

    /* names are opaque bytes: NULs are kept, with the length */
    bytes e = { 0 };
    ext_raw(&e, 16, "\x00\x06\x02h2\x02\x00z", 8);
    bytes h = hello_with(&e);
    ck_assert_int_eq(parse_bytes(&h, &info), CLIENTHELLO_OK);
    ck_assert_uint_eq(info.n_alpn, 2);
    ck_assert_uint_eq(info.alpn[1].len, 2);
    ck_assert_mem_eq(info.alpn[1].name, "\0z", 3);
    bytes_free(&h);

    static const struct {
        const char *body;
        size_t len;
        const char *why;
    } bad[] = {
        { "", 0, "ALPN: bad list length" },
        { "\x00", 1, "ALPN: bad list length" },
        { "\x00\x00", 2, "ALPN: empty list" },
        { "\x00\x01\x00", 3, "ALPN: empty protocol name" },
        { "\x00\x03\x02h2\x00", 6, "ALPN: bad list length" },
        { "\x00\x03\x03h2", 5, "ALPN: bad name length" },
        { "\x00\x04\x02h2\x00", 6, "ALPN: empty protocol name" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.n = 0;
        ext_raw(&e, 16, bad[i].body, bad[i].len);
        h = hello_with(&e);
        expect_status(h.b, h.n, CLIENTHELLO_MALFORMED, bad[i].why);
        bytes_free(&h);
    }
    bytes_free(&e);
}
END_TEST

START_TEST(supported_versions)
{
    clienthello_info info;
    bytes e = { 0 };
    bytes h;

    static const unsigned chrome[] = { 0x7a7a, 0x0304, 0x0303 };
    ext_versions(&e, chrome, 3);
    h = hello_with(&e);
    ck_assert_int_eq(parse_bytes(&h, &info), CLIENTHELLO_OK);
    ck_assert(info.offers_tls13);
    ck_assert_uint_eq(info.max_version, 0x0304);
    ck_assert_uint_eq(info.legacy_version, 0x0303);
    bytes_free(&h);

    static const unsigned old[] = { 0x0303, 0x0302 };
    e.n = 0;
    ext_versions(&e, old, 2);
    h = hello_with(&e);
    ck_assert_int_eq(parse_bytes(&h, &info), CLIENTHELLO_OK);
    ck_assert(!info.offers_tls13);
    ck_assert_uint_eq(info.max_version, 0x0303);
    bytes_free(&h);

    /* GREASE only: the legacy version stands */
    static const unsigned grease[] = { 0xdada };
    e.n = 0;
    ext_versions(&e, grease, 1);
    h = hello_with(&e);
    ck_assert_int_eq(parse_bytes(&h, &info), CLIENTHELLO_OK);
    ck_assert(!info.offers_tls13);
    ck_assert_uint_eq(info.max_version, 0x0303);
    bytes_free(&h);

    /* a draft or future version is reported as the highest */
    static const unsigned future[] = { 0x0304, 0x0305 };
    e.n = 0;
    ext_versions(&e, future, 2);
    h = hello_with(&e);
    ck_assert_int_eq(parse_bytes(&h, &info), CLIENTHELLO_OK);
    ck_assert(info.offers_tls13);
    ck_assert_uint_eq(info.max_version, 0x0305);
    bytes_free(&h);

    static const struct {
        const char *body;
        size_t len;
    } bad[] = {
        { "", 0 }, { "\x00", 1 }, { "\x01\x03", 2 }, { "\x02\x03\x04\x00", 4 },
        { "\x03\x03\x04\x03", 4 }, { "\x04\x03\x04", 3 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.n = 0;
        ext_raw(&e, 43, bad[i].body, bad[i].len);
        h = hello_with(&e);
        expect_status(h.b, h.n, CLIENTHELLO_MALFORMED,
                      "supported_versions: bad list length");
        bytes_free(&h);
    }
    bytes_free(&e);
}
END_TEST

START_TEST(status_strings)
{
    ck_assert_str_eq(clienthello_status_str(CLIENTHELLO_OK), "ok");
    ck_assert_str_eq(clienthello_status_str(CLIENTHELLO_INCOMPLETE), "incomplete");
    ck_assert_str_eq(clienthello_status_str(CLIENTHELLO_NOT_TLS), "not TLS");
    ck_assert_str_eq(clienthello_status_str(CLIENTHELLO_MALFORMED), "malformed");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("clienthello");
    TCase *tc;

    tc = check_case(s, "captures", 60, CHECK_TESTS(
        empty_record_between_fragments, truncated_message, data_after_hello_in_its_record));
    tcase_add_loop_test(tc, captures_split_everywhere, 0, (int)N_CAPTURES);
    tcase_add_loop_test(tc, captures_fragmented, 0, (int)N_CAPTURES);
    tcase_add_loop_test(tc, lying_lengths, 0, (int)N_CAPTURES);

    check_case(s, "records", 60, CHECK_TESTS(not_tls, record_layer, largest_hello, wire_bound));

    check_case(s, "hello", 0, CHECK_TESTS(
        body_fields, extensions, sni_names, sni_lengths, sni_structure, alpn_lists,
        supported_versions, status_strings));
    return s;
}
