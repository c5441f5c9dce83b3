fn main() {
    afl::fuzz!(|data: &[u8]| estafeta_fuzzing::sieve(data));
}
