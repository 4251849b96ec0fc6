//! Flash-chip drivers. They speak only to a [`ParallelBus`] or [`SpiBus`]; the vendor
//! session implements both, and tests can plug a chip model in directly.

pub use super::vendor::SpiData;
use super::vendor::{Vendor, VendorError};
use crate::clock::Timed;
use crate::transport::ata::TaskFile;

/// Byte-wide access to a parallel flash chip's bus.
/// The `_data` forms carry firmware: the driver says so, and the bus keeps those values
/// out of traces (the vendor session does; a bare test bus need not care).
pub trait ParallelBus: Timed {
    fn read(&mut self, addr: u32) -> Result<u8, VendorError>;
    fn write(&mut self, addr: u32, v: u8) -> Result<(), VendorError>;
    /// Read a byte that may be firmware (content, or a poll that can return it).
    fn read_data(&mut self, addr: u32) -> Result<u8, VendorError> {
        self.read(addr)
    }
    /// Write a firmware byte to be programmed at `addr`.
    fn write_data(&mut self, addr: u32, v: u8) -> Result<(), VendorError> {
        self.write(addr, v)
    }
    /// How long after a [`ParallelBus::read_data_timed`] began the chip was read, as
    /// far as the bus knows (zero when it does not).
    fn read_lead(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    /// [`ParallelBus::read_data`] that also measures [`ParallelBus::read_lead`].
    fn read_data_timed(&mut self, addr: u32) -> Result<u8, VendorError> {
        self.read_data(addr)
    }
}

/// One SPI transaction: chip select, send `tx`, receive `rx_len`, deselect. Every
/// transaction is whole: nothing staged survives another (inference I16, withdrawn).
pub trait SpiBus: Timed {
    fn transfer(&mut self, tx: &[u8], rx_len: usize) -> Result<Vec<u8>, VendorError>;
    /// Largest `tx.len() + rx_len` one transaction can carry.
    fn max_transfer(&self) -> usize;
    /// How long after a status read (`05`, one byte back) begins the chip is sampled,
    /// as far as the bus knows (zero when it does not).
    fn status_lead(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    /// [`SpiBus::transfer`] where `data` says which bytes are firmware (left out of
    /// traces by the vendor session).
    fn transfer_data(
        &mut self,
        tx: &[u8],
        rx_len: usize,
        _data: SpiData,
    ) -> Result<Vec<u8>, VendorError> {
        self.transfer(tx, rx_len)
    }
}

impl<T: TaskFile> ParallelBus for Vendor<T> {
    fn read(&mut self, addr: u32) -> Result<u8, VendorError> {
        self.read_byte(addr)
    }
    fn write(&mut self, addr: u32, v: u8) -> Result<(), VendorError> {
        self.write_byte(addr, v)
    }
    fn read_data(&mut self, addr: u32) -> Result<u8, VendorError> {
        Vendor::read_data(self, addr)
    }
    fn write_data(&mut self, addr: u32, v: u8) -> Result<(), VendorError> {
        Vendor::write_data(self, addr, v)
    }
    fn read_lead(&self) -> std::time::Duration {
        Vendor::read_lead(self)
    }
    fn read_data_timed(&mut self, addr: u32) -> Result<u8, VendorError> {
        Vendor::read_data_timed(self, addr)
    }
}

impl<T: TaskFile> SpiBus for Vendor<T> {
    fn transfer(&mut self, tx: &[u8], rx_len: usize) -> Result<Vec<u8>, VendorError> {
        self.spi(tx, rx_len)
    }
    fn max_transfer(&self) -> usize {
        crate::inference::SPI_MAX_TRANSFER
    }
    fn status_lead(&self) -> std::time::Duration {
        Vendor::status_lead(self)
    }
    fn transfer_data(
        &mut self,
        tx: &[u8],
        rx_len: usize,
        data: SpiData,
    ) -> Result<Vec<u8>, VendorError> {
        self.spi_data(tx, rx_len, data)
    }
}

pub mod jedec;
pub mod spi;

use crate::chips::{ChipInfo, Eraser};

/// What the flashing engine needs from a chip driver.
pub trait FlashOps {
    fn info(&self) -> &'static ChipInfo;
    /// Make the chip writable (SPI: clear block protection).
    fn prepare(&mut self) -> Result<(), VendorError> {
        Ok(())
    }
    /// Put back what `prepare` changed.
    fn restore(&mut self) -> Result<(), VendorError> {
        Ok(())
    }
    fn read(&mut self, addr: u32, buf: &mut [u8]) -> Result<(), VendorError>;
    /// Erase the unit of `e` that contains `addr` (the whole chip for a chip erase).
    fn erase(&mut self, e: &Eraser, addr: u32) -> Result<(), VendorError>;
    /// Program `data` at `addr`; 0xFF bytes are left alone (page-write chips: the pages
    /// covered are rewritten whole, FF where `data` has FF).
    fn program(&mut self, addr: u32, data: &[u8]) -> Result<(), VendorError>;
}

impl<B: ParallelBus + ?Sized> ParallelBus for &mut B {
    fn read(&mut self, addr: u32) -> Result<u8, VendorError> {
        (**self).read(addr)
    }
    fn write(&mut self, addr: u32, v: u8) -> Result<(), VendorError> {
        (**self).write(addr, v)
    }
    fn read_data(&mut self, addr: u32) -> Result<u8, VendorError> {
        (**self).read_data(addr)
    }
    fn write_data(&mut self, addr: u32, v: u8) -> Result<(), VendorError> {
        (**self).write_data(addr, v)
    }
    fn read_lead(&self) -> std::time::Duration {
        (**self).read_lead()
    }
    fn read_data_timed(&mut self, addr: u32) -> Result<u8, VendorError> {
        (**self).read_data_timed(addr)
    }
}

impl<B: SpiBus + ?Sized> SpiBus for &mut B {
    fn transfer(&mut self, tx: &[u8], rx_len: usize) -> Result<Vec<u8>, VendorError> {
        (**self).transfer(tx, rx_len)
    }
    fn max_transfer(&self) -> usize {
        (**self).max_transfer()
    }
    fn status_lead(&self) -> std::time::Duration {
        (**self).status_lead()
    }
    fn transfer_data(
        &mut self,
        tx: &[u8],
        rx_len: usize,
        data: SpiData,
    ) -> Result<Vec<u8>, VendorError> {
        (**self).transfer_data(tx, rx_len, data)
    }
}
