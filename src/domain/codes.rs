//! Checkable codes (DESIGN §8): unified social credit code, resident ID number, and the
//! licence identifier's MOD 37,36 check character.
