fn main() {
    afl::fuzz!(|data: &[u8]| estafeta_fuzzing::imap_deflate(data));
}
