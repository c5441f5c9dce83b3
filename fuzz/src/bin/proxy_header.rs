fn main() {
    afl::fuzz!(|data: &[u8]| estafeta_fuzzing::proxy_header(data));
}
